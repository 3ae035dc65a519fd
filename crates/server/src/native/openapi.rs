//! The OpenAPI 3.1 description of the native API, served at `/openapi.json`.

use serde_json::{Value, json};

fn op(summary: &str, tag: &str, params: Value, body: Option<&str>, responses: Value) -> Value {
    let mut o = json!({
        "summary": summary,
        "tags": [tag],
        "parameters": params,
        "responses": responses,
    });
    if let Some(schema) = body {
        o["requestBody"] = json!({
            "required": true,
            "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
        });
    }
    o
}

fn path_param(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "description": description, "schema": { "type": "string" } })
}

fn query_param(name: &str, description: &str, kind: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": { "type": kind } })
}

fn returns(status: &str, schema: &str) -> Value {
    json!({
        status: { "description": "OK", "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } },
        "4XX": { "$ref": "#/components/responses/Error" }
    })
}

fn empty(status: &str) -> Value {
    json!({
        status: { "description": "Done" },
        "4XX": { "$ref": "#/components/responses/Error" }
    })
}

/// The document.
pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Cirrus native API",
            "version": "1",
            "description": "State machines, executions, activities, functions and user routes of a Cirrus node. The same resources are served over the AWS Step Functions protocol at POST / and the AWS Lambda API under /2015-03-31/ (SigV4)."
        },
        "servers": [{ "url": "http://127.0.0.1:9070" }],
        "security": [{ "bearer": [] }],
        "paths": paths(),
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "description": "The node's token (`cirrus env`)" } },
            "responses": {
                "Error": {
                    "description": "What went wrong, with the AWS error name as code",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
                }
            },
            "schemas": schemas()
        }
    })
}

fn paths() -> Value {
    let name = path_param("name", "The state machine's name");
    let alias = path_param("alias", "The alias's name");
    let arn = path_param("arn", "The execution's ARN");
    let activity = path_param("name", "The activity's name");
    let limit = query_param("limit", "At most this many items (1-1000)", "integer");
    let after = query_param("after", "The `next` token of the previous page", "string");
    let mut m = serde_json::Map::new();
    m.insert("/v1/state-machines".into(), json!({
                "get": op("List state machines", "state machines", json!([limit, after]), None, returns("200", "MachineList")),
                "post": op("Create a state machine", "state machines", json!([]), Some("NewMachine"), returns("201", "Machine"))
            }));
    m.insert("/v1/state-machines/{name}".into(), json!({
                "get": op("Describe a state machine", "state machines", json!([name]), None, returns("200", "Machine")),
                "put": op("Update a state machine's definition or role", "state machines", json!([name]), Some("MachineUpdate"), returns("200", "Machine")),
                "delete": op("Delete a state machine with its versions and aliases", "state machines", json!([name]), None, empty("204"))
            }));
    m.insert("/v1/state-machines/{name}/versions".into(), json!({
                "get": op("List versions, newest first", "versions", json!([name]), None, returns("200", "VersionList")),
                "post": op("Publish the current revision as a version", "versions", json!([name]), Some("NewVersion"), returns("201", "Version"))
            }));
    m.insert(
        "/v1/state-machines/{name}/aliases".into(),
        json!({
            "get": op("List aliases", "aliases", json!([name]), None, returns("200", "AliasList"))
        }),
    );
    m.insert("/v1/state-machines/{name}/aliases/{alias}".into(), json!({
                "put": op("Create or update an alias", "aliases", json!([name, alias]), Some("AliasRouting"), returns("200", "Alias")),
                "get": op("Describe an alias", "aliases", json!([name, alias]), None, returns("200", "Alias")),
                "delete": op("Delete an alias", "aliases", json!([name, alias]), None, empty("204"))
            }));
    m.insert("/v1/state-machines/{name}/executions".into(), json!({
                "post": op("Start an execution (and wait for it, if asked)", "executions", json!([name]), Some("NewExecution"), returns("201", "Execution"))
            }));
    m.insert(
        "/v1/executions".into(),
        json!({
            "get": op("List executions, newest first", "executions", json!([
                query_param("stateMachine", "A state machine name or ARN", "string"),
                query_param("status", "RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED", "string"),
                limit, after
            ]), None, returns("200", "ExecutionList"))
        }),
    );
    m.insert("/v1/executions/{arn}".into(), json!({
                "get": op("Describe an execution", "executions", json!([arn]), None, returns("200", "Execution"))
            }));
    m.insert("/v1/executions/{arn}/stop".into(), json!({
                "post": op("Stop an execution (it ends ABORTED)", "executions", json!([arn]), Some("Stop"), returns("200", "Execution"))
            }));
    m.insert("/v1/executions/{arn}/redrive".into(), json!({
                "post": op("Redrive a failed, timed-out or aborted execution from where it stopped", "executions", json!([arn]), None, returns("200", "Execution"))
            }));
    m.insert(
        "/v1/executions/{arn}/history".into(),
        json!({
            "get": op("An execution's history events", "executions", json!([arn,
                query_param("from", "The first event id (default 1)", "integer"),
                limit]), None, returns("200", "History"))
        }),
    );
    m.insert("/v1/activities".into(), json!({
                "get": op("List activities", "activities", json!([limit, after]), None, returns("200", "ActivityList")),
                "post": op("Create an activity", "activities", json!([]), Some("NewActivity"), returns("201", "Activity"))
            }));
    m.insert("/v1/activities/{name}".into(), json!({
                "get": op("Describe an activity", "activities", json!([activity]), None, returns("200", "Activity")),
                "delete": op("Delete an activity", "activities", json!([activity]), None, empty("204"))
            }));
    m.insert("/v1/activities/{name}/poll".into(), json!({
                "post": op("Take the activity's oldest waiting task, waiting up to 60 s; 204 if none came", "activities",
                    json!([activity, query_param("worker", "The worker's name", "string"), query_param("wait", "Seconds to wait for a task, 0 to 60 (default 60)", "integer")]), None,
                    json!({
                        "200": { "description": "A task", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ActivityTask" } } } },
                        "204": { "description": "No task came in time" },
                        "4XX": { "$ref": "#/components/responses/Error" }
                    }))
            }));
    m.insert("/v1/tasks/success".into(), json!({ "post": op("Complete a task by its token", "tasks", json!([]), Some("TaskSuccess"), empty("204")) }));
    m.insert("/v1/tasks/failure".into(), json!({ "post": op("Fail a task by its token", "tasks", json!([]), Some("TaskFailure"), empty("204")) }));
    m.insert("/v1/tasks/heartbeat".into(), json!({ "post": op("Report that a task is alive", "tasks", json!([]), Some("TaskToken"), empty("204")) }));
    m.insert("/v1/validate".into(), json!({ "post": op("Validate a definition", "state machines", json!([]), Some("Validate"), returns("200", "Validation")) }));
    let fname = || path_param("name", "The function's name");
    m.insert("/v1/functions".into(), json!({ "get": op("List functions with their live instances", "functions", json!([query_param("after", "List after this name", "string")]), None, returns("200", "FunctionList")) }));
    m.insert("/v1/functions/{name}".into(), json!({
        "put": op("Deploy a function: create it, or update its code and settings (an unchanged deploy changes nothing)", "functions", json!([fname()]), Some("Deploy"), returns("200", "Function")),
        "get": op("Describe a function: settings, versions, aliases and pools", "functions", json!([fname()]), None, returns("200", "Function")),
        "delete": op("Delete a function with its versions, aliases and routes", "functions", json!([fname()]), None, empty("204")) }));
    m.insert("/v1/functions/{name}/invoke".into(), json!({ "post": op("Invoke a function with a JSON event (the body)", "functions", json!([fname(),
        query_param("qualifier", "A version or alias", "string"), query_param("async", "true: queue the event (202) and return", "boolean")]),
        Some("AnyJson"), returns("200", "Invocation")) }));
    m.insert("/v1/functions/{name}/versions".into(), json!({ "post": op("Publish $LATEST as a version", "functions", json!([fname()]), Some("NewVersion"), returns("201", "FunctionVersion")) }));
    m.insert("/v1/functions/{name}/aliases/{alias}".into(), json!({ "put": op("Create or update an alias", "functions", json!([fname(), path_param("alias", "The alias")]), Some("FunctionAlias"), returns("200", "AnyJson")) }));
    m.insert("/v1/functions/{name}/logs".into(), json!({ "get": op("Invocation records after a sequence number, waiting up to `wait` seconds for one", "functions", json!([fname(),
        query_param("after", "Records after this sequence number", "integer"), query_param("wait", "Seconds to wait for a new record (up to 60)", "integer"), limit]), None, returns("200", "LogRecords")) }));
    m.insert("/v1/logs".into(), json!({ "get": op("Invocation records of every function", "functions", json!([
        query_param("after", "Records after this sequence number", "integer"), query_param("wait", "Seconds to wait for a new record (up to 60)", "integer"), limit]), None, returns("200", "LogRecords")) }));
    m.insert("/v1/functions/{name}/dead-letters".into(), json!({ "get": op("Asynchronous events that ran out of retries or age", "functions", json!([fname(), limit]), None, returns("200", "AnyJson")) }));
    m.insert("/v1/functions/{name}/code".into(), json!({ "get": op("The function's code ($LATEST)", "functions", json!([fname()]), None, json!({ "200": { "description": "The component or zip" } })) }));
    m.insert("/v1/routes".into(), json!({
        "get": op("User routes", "routes", json!([]), None, returns("200", "AnyJson")),
        "put": op("Route requests like GET /orders/{id} to a function, or POST /orders to a workflow", "routes", json!([]), Some("Route"), returns("200", "Route")),
        "delete": op("Delete a route", "routes", json!([query_param("route", "The route key, e.g. GET /orders/{id}", "string")]), None, empty("204")) }));
    crate::events::queues_native::openapi_paths(&mut m);
    events_paths(&mut m);
    Value::Object(m)
}

/// The event system's routes ([`crate::events::native`]).
fn events_paths(m: &mut serde_json::Map<String, Value>) {
    let any = |status: &str| returns(status, "AnyJson");
    let name = |n: &str, d: &str| path_param(n, d);
    m.insert("/v1/events".into(), json!({
        "get": op("Execution status events still in the outbox, in commit order", "events", json!([
            query_param("after", "Events after this sequence number", "integer"), query_param("limit", "At most this many", "integer")
        ]), None, returns("200", "EventList")),
        "post": op("Put CloudEvents on a bus: one event, an array, or {bus, events}; they are matched and their deliveries stored before the answer", "events",
            json!([query_param("bus", "The bus (default: default)", "string")]), Some("AnyJson"), any("200")) }));
    m.insert(
        "/v1/buses".into(),
        json!({ "get": op("Event buses", "events", json!([]), None, any("200")) }),
    );
    m.insert("/v1/buses/{bus}".into(), json!({
        "put": op("Create a bus (`{description}`)", "events", json!([name("bus", "The bus")]), Some("AnyJson"), any("201")),
        "get": op("A bus and its rules' names", "events", json!([name("bus", "The bus")]), None, any("200")),
        "delete": op("Delete a bus without rules", "events", json!([name("bus", "The bus")]), None, any("200")) }));
    m.insert("/v1/buses/{bus}/rules".into(), json!({ "get": op("A bus's rules", "events", json!([name("bus", "The bus")]), None, any("200")) }));
    m.insert("/v1/buses/{bus}/rules/{rule}".into(), json!({
        "put": op("Create or replace a rule: {pattern | schedule, timezone, enabled, description, targets: [{id, action: {type: function|workflow|queue|http|publish|bus, ...}, input, retry, dead_letter_queue}]}", "events",
            json!([name("bus", "The bus"), name("rule", "The rule")]), Some("AnyJson"), any("200")),
        "get": op("A rule", "events", json!([name("bus", "The bus"), name("rule", "The rule")]), None, any("200")),
        "delete": op("Delete a rule with its targets", "events", json!([name("bus", "The bus"), name("rule", "The rule")]), None, any("200")) }));
    m.insert("/v1/patterns/test".into(), json!({ "post": op("Whether an event ({pattern, event}; a CloudEvent or an EventBridge event) matches", "events", json!([]), Some("AnyJson"), any("200")) }));
    m.insert("/v1/schedules".into(), json!({
        "get": op("Schedules, by name", "events", json!([query_param("after", "After this name", "string"), query_param("limit", "At most this many", "integer")]), None, any("200")),
        "post": op("Create or replace up to 10,000 schedules in one commit ({schedules: [...]})", "events", json!([]), Some("AnyJson"), any("200")) }));
    m.insert("/v1/schedules/{name}".into(), json!({
        "put": op("Create or replace a schedule: {expression: rate|cron|at, timezone, target, missed: fire_once|skip|fire_all, enabled, anchor_ms}", "events", json!([name("name", "The schedule")]), Some("AnyJson"), any("200")),
        "get": op("A schedule and its next tick", "events", json!([name("name", "The schedule")]), None, any("200")),
        "delete": op("Delete a schedule", "events", json!([name("name", "The schedule")]), None, any("200")) }));
    m.insert("/v1/scheduler".into(), json!({
        "get": op("Ticks fired and missed, and the skew from tick to fire (p50, p99, max)", "events", json!([]), None, any("200")),
        "delete": op("Reset the scheduler's statistics", "events", json!([]), None, any("200")) }));
    m.insert("/v1/dead-events".into(), json!({ "get": op("Deliveries that failed for good, newest first, with the reason", "events",
        json!([query_param("bus", "The bus (default: default)", "string"), query_param("rule", "Only this rule's", "string"), query_param("limit", "At most this many", "integer")]), None, any("200")) }));
    m.insert("/v1/dead-events/{id}".into(), json!({ "delete": op("Forget a dead letter", "events", json!([name("id", "The delivery id")]), None, any("200")) }));
    m.insert("/v1/sources".into(), json!({ "get": op("Broker sources with their state", "events", json!([]), None, any("200")) }));
    m.insert("/v1/sources/{name}".into(), json!({
        "put": op("Create or replace a NATS or MQTT source ({type: nats|mqtt, url, subject | jetstream | topics, qos, bus})", "events", json!([name("name", "The source")]), Some("AnyJson"), any("200")),
        "get": op("A source with its state", "events", json!([name("name", "The source")]), None, any("200")),
        "delete": op("Stop and delete a source", "events", json!([name("name", "The source")]), None, any("200")) }));
    m.insert("/v1/apps/{name}".into(), json!({
        "get": op("What an application's manifest last deployed", "apps", json!([name("name", "The app")]), None, any("200")),
        "put": op("Record what an application's manifest deployed", "apps", json!([name("name", "The app")]), Some("AnyJson"), any("200")),
        "delete": op("Forget an application's record", "apps", json!([name("name", "The app")]), None, any("200")) }));
    m.insert(
        "/v1/webhooks".into(),
        json!({ "get": op("Webhooks", "events", json!([]), None, any("200")) }),
    );
    m.insert("/v1/webhooks/{name}".into(), json!({
        "put": op("Create or replace a webhook served at POST /webhooks/{name} on the routes listener ({secret, scheme: github|stripe|generic, header, bus, ...})", "events", json!([name("name", "The webhook")]), Some("AnyJson"), any("200")),
        "get": op("A webhook", "events", json!([name("name", "The webhook")]), None, any("200")),
        "delete": op("Delete a webhook", "events", json!([name("name", "The webhook")]), None, any("200")) }));
}

fn schemas() -> Value {
    let mut m = serde_json::Map::new();
    m.insert("Error".into(), json!({ "type": "object", "required": ["error"], "properties": { "error": { "type": "object", "required": ["code", "message"], "properties": { "code": { "type": "string" }, "message": { "type": "string" } } } } }));
    m.insert("NewMachine".into(), json!({ "type": "object", "required": ["name", "definition"], "properties": {
                    "name": { "type": "string" },
                    "definition": { "description": "The ASL definition, as an object or as JSON text", "type": ["object", "string"] },
                    "type": { "enum": ["STANDARD", "EXPRESS"] },
                    "roleArn": { "type": "string" },
                    "description": { "type": "string" },
                    "publish": { "type": "boolean" } } }));
    m.insert("MachineUpdate".into(), json!({ "type": "object", "properties": {
                    "definition": { "type": ["object", "string"] }, "roleArn": { "type": "string" }, "publish": { "type": "boolean" } } }));
    m.insert("Machine".into(), json!({ "type": "object", "properties": {
                    "arn": { "type": "string" }, "name": { "type": "string" }, "type": { "type": "string" },
                    "definition": { "type": "object" }, "roleArn": { "type": "string" }, "revisionId": { "type": "string" },
                    "created": { "type": "string", "format": "date-time" }, "updated": { "type": "string", "format": "date-time" },
                    "versionArn": { "type": ["string", "null"] } } }));
    m.insert("MachineList".into(), json!({ "type": "object", "properties": { "stateMachines": { "type": "array", "items": { "$ref": "#/components/schemas/Machine" } }, "next": { "type": ["string", "null"] } } }));
    m.insert("NewVersion".into(), json!({ "type": "object", "properties": { "description": { "type": "string" }, "revisionId": { "type": "string" } } }));
    m.insert("Version".into(), json!({ "type": "object", "properties": { "arn": { "type": "string" }, "version": { "type": "integer" }, "revisionId": { "type": "string" }, "created": { "type": "string", "format": "date-time" } } }));
    m.insert("VersionList".into(), json!({ "type": "object", "properties": { "versions": { "type": "array", "items": { "$ref": "#/components/schemas/Version" } } } }));
    m.insert("AliasRouting".into(), json!({ "type": "object", "required": ["versions"], "properties": {
                    "description": { "type": "string" },
                    "versions": { "type": "array", "minItems": 1, "maxItems": 2, "items": { "type": "object", "required": ["version"], "properties": { "version": { "type": "integer" }, "weight": { "type": "integer", "minimum": 0, "maximum": 100 } } } } } }));
    m.insert("Alias".into(), json!({ "type": "object", "properties": { "arn": { "type": "string" }, "name": { "type": "string" }, "routing": { "type": "array" } } }));
    m.insert("AliasList".into(), json!({ "type": "object", "properties": { "aliases": { "type": "array", "items": { "$ref": "#/components/schemas/Alias" } } } }));
    m.insert("NewExecution".into(), json!({ "type": "object", "properties": {
                    "name": { "type": "string" }, "input": { "description": "Any JSON value" },
                    "version": { "type": "integer" }, "alias": { "type": "string" },
                    "wait": { "description": "true, or seconds to wait for the execution to end", "type": ["boolean", "number"] } } }));
    m.insert("Execution".into(), json!({ "type": "object", "properties": {
                    "arn": { "type": "string" }, "stateMachineArn": { "type": "string" }, "versionArn": { "type": ["string", "null"] },
                    "aliasArn": { "type": ["string", "null"] }, "name": { "type": "string" },
                    "status": { "enum": ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"] },
                    "input": {}, "output": {}, "error": { "type": ["string", "null"] }, "cause": { "type": ["string", "null"] },
                    "started": { "type": "string", "format": "date-time" }, "stopped": { "type": ["string", "null"] },
                    "redriveCount": { "type": "integer" }, "events": { "type": "integer" } } }));
    m.insert("ExecutionList".into(), json!({ "type": "object", "properties": { "executions": { "type": "array", "items": { "$ref": "#/components/schemas/Execution" } }, "next": { "type": ["string", "null"] } } }));
    m.insert("Stop".into(), json!({ "type": "object", "properties": { "error": { "type": "string" }, "cause": { "type": "string" } } }));
    m.insert("HistoryEvent".into(), json!({ "type": "object", "properties": { "id": { "type": "integer" }, "previousId": { "type": "integer" }, "time": { "type": "string", "format": "date-time" }, "type": { "type": "string" }, "details": { "type": "object" } } }));
    m.insert("History".into(), json!({ "type": "object", "properties": { "execution": { "$ref": "#/components/schemas/Execution" }, "events": { "type": "array", "items": { "$ref": "#/components/schemas/HistoryEvent" } }, "next": { "type": ["integer", "null"] } } }));
    m.insert("NewActivity".into(), json!({ "type": "object", "required": ["name"], "properties": { "name": { "type": "string" } } }));
    m.insert("Activity".into(), json!({ "type": "object", "properties": { "arn": { "type": "string" }, "name": { "type": "string" }, "created": { "type": "string", "format": "date-time" } } }));
    m.insert("ActivityList".into(), json!({ "type": "object", "properties": { "activities": { "type": "array", "items": { "$ref": "#/components/schemas/Activity" } } } }));
    m.insert("ActivityTask".into(), json!({ "type": "object", "properties": { "taskToken": { "type": "string" }, "input": {} } }));
    m.insert("TaskToken".into(), json!({ "type": "object", "required": ["taskToken"], "properties": { "taskToken": { "type": "string" } } }));
    m.insert("TaskSuccess".into(), json!({ "type": "object", "required": ["taskToken"], "properties": { "taskToken": { "type": "string" }, "output": {} } }));
    m.insert("TaskFailure".into(), json!({ "type": "object", "required": ["taskToken"], "properties": { "taskToken": { "type": "string" }, "error": { "type": "string" }, "cause": { "type": "string" } } }));
    m.insert("Validate".into(), json!({ "type": "object", "required": ["definition"], "properties": { "definition": { "type": ["object", "string"] } } }));
    m.insert("Validation".into(), json!({ "type": "object", "properties": { "result": { "enum": ["OK", "FAIL"] }, "diagnostics": { "type": "array", "items": { "type": "object", "properties": { "code": { "type": "string" }, "message": { "type": "string" }, "location": { "type": "string" } } } } } }));
    m.insert("EventList".into(), json!({ "type": "object", "properties": { "events": { "type": "array", "items": { "type": "object", "properties": { "seq": { "type": "integer" }, "time": { "type": "string" }, "detailType": { "type": "string" }, "detail": { "type": "object" } } } } } }));
    m.insert("AnyJson".into(), json!({ "description": "Any JSON value" }));
    m.insert("Deploy".into(), json!({ "type": "object", "properties": {
                    "code": { "type": "string", "contentEncoding": "base64", "description": "A WebAssembly component or a zip; required to create" },
                    "runtime": { "type": "string", "description": "wasm, python3 (python3.12, ...), nodejs (nodejs20.x, ...), provided (provided.al2023)" },
                    "handler": { "type": "string" }, "description": { "type": "string" },
                    "memory_mb": { "type": "integer", "minimum": 128, "maximum": 10240 },
                    "timeout_seconds": { "type": "integer", "minimum": 1, "maximum": 900 },
                    "environment": { "type": "object", "additionalProperties": { "type": "string" } },
                    "allowed_hosts": { "type": "array", "items": { "type": "string" } },
                    "min_instances": { "type": "integer" }, "max_instances": { "type": "integer" },
                    "per_instance": { "type": "integer" }, "idle_timeout_seconds": { "type": "integer" },
                    "reserved_concurrency": { "type": ["integer", "null"] }, "queue_when_throttled": { "type": "boolean" },
                    "publish": { "type": "boolean" } } }));
    m.insert("Function".into(), json!({ "type": "object", "properties": {
                    "name": { "type": "string" }, "arn": { "type": "string" }, "revisionId": { "type": "string" },
                    "config": { "type": "object" }, "versions": { "type": "array" }, "aliases": { "type": "array" },
                    "pools": { "type": "array", "items": { "type": "object" } }, "changed": { "type": "boolean" } } }));
    m.insert("FunctionList".into(), json!({ "type": "object", "properties": { "functions": { "type": "array", "items": { "type": "object" } } } }));
    m.insert("FunctionVersion".into(), json!({ "type": "object", "properties": { "version": { "type": "string" }, "revisionId": { "type": "string" } } }));
    m.insert("FunctionAlias".into(), json!({ "type": "object", "required": ["version"], "properties": { "version": { "type": "string" }, "routing": { "type": "object", "additionalProperties": { "type": "number" } }, "description": { "type": "string" } } }));
    m.insert("Invocation".into(), json!({ "type": "object", "properties": {
                    "status": { "enum": ["ok", "error"] }, "result": {}, "error": { "type": "object" },
                    "requestId": { "type": "string" }, "version": { "type": "string" }, "coldStart": { "type": "boolean" },
                    "durationMs": { "type": "number" }, "logs": { "type": "string" } } }));
    m.insert("LogRecords".into(), json!({ "type": "object", "properties": { "records": { "type": "array", "items": { "type": "object" } }, "next": { "type": "integer" } } }));
    m.insert("Route".into(), json!({ "type": "object", "required": ["route"], "description": "Exactly one of function (with an optional qualifier) and workflow", "properties": { "route": { "type": "string" }, "function": { "type": "string" }, "qualifier": { "type": "string" }, "workflow": { "type": "string", "description": "A state machine: STANDARD answers 202 {executionArn, startDate}, EXPRESS 200 with the output" } } }));
    Value::Object(m)
}
