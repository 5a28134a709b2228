#!/usr/bin/env python3
"""The smallest complete harness in Python: answers every walk "unreliable". A starting point."""
import json
import sys


def walk(snapshot):
    # snapshot["regs"]["pc"], snapshot["regions"][i]["data"] (base64), snapshot["finalFrame"], ...
    return {"rc": -22, "trace": [], "reason": "not implemented yet (task %s)" % snapshot["task"]["comm"]}


def send(msg):
    sys.stdout.write(json.dumps(msg) + "\n")  # stdout: protocol only; log to stderr
    sys.stdout.flush()


for line in sys.stdin:
    req = json.loads(line)
    if req["cmd"] == "start":
        if req["version"] != 1:
            sys.exit("unsupported protocol version %r" % req["version"])
        send({
            "version": 1,
            "implementation": {"name": "my-python-unwinder", "arch": "arm64", "unwinder": "frame-pointer"},
            # The claims of profiles/arm64-always-unreliable.json (see minimal-js/always-unreliable.js).
            "claims": {
                "unwindsAcrossIrq": False, "unwindsAcrossNmi": False, "identifiesReliableExceptionUnwind": False,
                "recoversFgraphReturns": False, "recoversKretprobeReturns": False, "unwindsInsideReturnToHandler": False,
                "usesCompileTimeAnalysis": True, "usesUnwindMetadata": False, "checksTermination": False,
            },
        })
    elif req["cmd"] == "walk":
        try:
            send(dict(seq=req["seq"], **walk(req["snapshot"])))
        except Exception as e:  # report, don't die
            send({"seq": req["seq"], "errored": True, "message": repr(e)})
    elif req["cmd"] == "stop":
        break
