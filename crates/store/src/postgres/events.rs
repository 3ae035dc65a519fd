//! The event system's records on this backend (placeholder until written).

use async_trait::async_trait;

use super::PostgresStore;
use crate::*;

fn todo() -> StoreError {
    StoreError::Database("not implemented on this backend yet".into())
}

#[async_trait]
impl Resources for PostgresStore {
    async fn put_resource(&self, _resource: &Resource, _expect: Expect) -> Result<Resource> {
        Err(todo())
    }
    async fn resource(&self, _kind: &str, _name: &str) -> Result<Option<Resource>> {
        Err(todo())
    }
    async fn resources(&self, _kind: &str) -> Result<Vec<Resource>> {
        Err(todo())
    }
    async fn delete_resource(&self, _kind: &str, _name: &str) -> Result<bool> {
        Err(todo())
    }
}

#[async_trait]
impl EventLog for PostgresStore {
    async fn accept(&self, _accepted: &Accepted) -> Result<()> {
        Err(todo())
    }
    async fn due_deliveries(&self, _until_ms: i64, _limit: usize) -> Result<Vec<Delivery>> {
        Err(todo())
    }
    async fn next_delivery_due(&self) -> Result<Option<i64>> {
        Err(todo())
    }
    async fn reschedule_delivery(&self, _delivery: &Delivery) -> Result<()> {
        Err(todo())
    }
    async fn finish_deliveries(&self, _ids: &[String]) -> Result<u64> {
        Err(todo())
    }
    async fn dead_letter_delivery(
        &self,
        _dead: &DeadEvent,
        _message: Option<&QueueMessage>,
    ) -> Result<()> {
        Err(todo())
    }
    async fn dead_events(
        &self,
        _rule: Option<(&str, &str)>,
        _limit: usize,
    ) -> Result<Vec<DeadEvent>> {
        Err(todo())
    }
    async fn delete_dead_event(&self, _id: &str) -> Result<bool> {
        Err(todo())
    }
    async fn queued_deliveries(&self) -> Result<u64> {
        Err(todo())
    }
    async fn archived_events(
        &self,
        _archive: &str,
        _from_ms: i64,
        _to_ms: i64,
        _after: Option<(i64, &str)>,
        _limit: usize,
    ) -> Result<Vec<ArchivedEvent>> {
        Err(todo())
    }
    async fn archive_size(&self, _archive: &str) -> Result<(u64, u64)> {
        Err(todo())
    }
    async fn trim_archive(&self, _archive: &str, _before_ms: Option<i64>) -> Result<u64> {
        Err(todo())
    }
}

#[async_trait]
impl Schedules for PostgresStore {
    async fn put_schedule(&self, _schedule: &Schedule) -> Result<()> {
        Err(todo())
    }
    async fn put_schedules(&self, _schedules: &[Schedule]) -> Result<()> {
        Err(todo())
    }
    async fn schedule(&self, _name: &str) -> Result<Option<Schedule>> {
        Err(todo())
    }
    async fn schedules(&self, _prefix: &str, _page: Page<'_>) -> Result<Vec<Schedule>> {
        Err(todo())
    }
    async fn delete_schedule(&self, _name: &str) -> Result<bool> {
        Err(todo())
    }
    async fn due_schedules(
        &self,
        _until_ms: i64,
        _after: Option<(i64, &str)>,
        _limit: usize,
    ) -> Result<Vec<Schedule>> {
        Err(todo())
    }
    async fn next_schedule_due(&self) -> Result<Option<i64>> {
        Err(todo())
    }
    async fn fire_schedules(&self, _fires: &[ScheduleFire]) -> Result<Vec<bool>> {
        Err(todo())
    }
    async fn schedule_count(&self) -> Result<u64> {
        Err(todo())
    }
}

#[async_trait]
impl Queues for PostgresStore {
    async fn send_messages(&self, _messages: &[QueueMessage]) -> Result<()> {
        Err(todo())
    }
    async fn receive_messages(
        &self,
        _queue: &str,
        _max: usize,
        _now_ms: i64,
        _visibility_ms: i64,
        _redrive: Option<&Redrive>,
    ) -> Result<Vec<QueueMessage>> {
        Err(todo())
    }
    async fn delete_messages(&self, _queue: &str, _receipts: &[String]) -> Result<Vec<bool>> {
        Err(todo())
    }
    async fn change_visibility(
        &self,
        _queue: &str,
        _receipt: &str,
        _visible_ms: i64,
    ) -> Result<bool> {
        Err(todo())
    }
    async fn purge_queue(&self, _queue: &str) -> Result<u64> {
        Err(todo())
    }
    async fn expire_messages(&self, _queue: &str, _before_ms: i64) -> Result<u64> {
        Err(todo())
    }
    async fn queue_counts(&self, _queue: &str, _now_ms: i64) -> Result<QueueCounts> {
        Err(todo())
    }
    async fn next_visible(&self, _queue: &str) -> Result<Option<i64>> {
        Err(todo())
    }
}
