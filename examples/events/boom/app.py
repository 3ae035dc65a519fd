"""A function that always fails, to show the lifecycle event of an invocation that runs
out of retries (`aws.lambda` / `Lambda Function Invocation Result - Failure`)."""


def handler(event, context):
    raise RuntimeError(f"cannot handle {event!r}")
