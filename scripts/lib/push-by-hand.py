"""Pushes the messages of a Pub/Sub pull answer (standard input) to ENDPOINT as the emulator's
push would, one at a time, and prints {"ackIds": [...]} of those answered 200 (nothing when
the answer held no message). Used by scripts/e2e.

  python3 push-by-hand.py ENDPOINT SUBSCRIPTION < pull-answer.json
"""

import json
import sys
import urllib.error
import urllib.request

endpoint, subscription = sys.argv[1], sys.argv[2]
received = json.load(sys.stdin).get("receivedMessages", [])
acked = []
for item in received:
    body = json.dumps({"message": item["message"], "subscription": subscription}).encode()
    request = urllib.request.Request(endpoint, data=body, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            if answer.status == 200:
                acked.append(item["ackId"])
    except urllib.error.URLError:
        pass  # left unacknowledged: Pub/Sub keeps it
if received:
    print(json.dumps({"ackIds": acked}))
