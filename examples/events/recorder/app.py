"""A Cirrus function that records the events it receives, one line each in its log:
``EVENT <source> | <detail-type> | <detail as JSON>``. Rules aim at it to show what fired."""

import json


def handler(event, context):
    if isinstance(event, dict) and "detail-type" in event:
        print(f"EVENT {event.get('source')} | {event['detail-type']} | "
              f"{json.dumps(event.get('detail'), sort_keys=True)}")
    else:
        print(f"EVENT input | - | {json.dumps(event, sort_keys=True)}")
    return {"recorded": True}
