"""The hosting probe: a standard-library script run inside the serving container (`python -c`), over its loopback.

SageMaker reaches an endpoint's container on port 8080 while the container itself has no network; the harness
does the same by running this script with the engine's exec (the container runs with no network at all), so
what it measures is the container's own answer, with no port publishing in between. Vertex AI and Azure ML
probe their own port and routes (probe_arguments takes them).

    result = parse_result(container.exec_run(["python", "-c", PROBE_SCRIPT, probe_arguments(...)]).output)
    result["ping"]["ready_after"], result["invoke"]["status"], result["busy_ping"]["max"]
"""

from __future__ import annotations

import base64
import json
from typing import Any

from mldock import contract
from mldock.errors import RunnerError

__all__ = ["PROBE_SCRIPT", "parse_result", "probe_arguments"]

PROBE_SCRIPT = """
import base64, http.client, json, sys, threading, time
args = json.loads(sys.argv[1])
port, payload = args["port"], base64.b64decode(args["payload"])
def call(method, path, body=None, headers=None, timeout=30.0):
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        return response.status, response.getheader("Content-Type") or "", data, time.monotonic() - started
    except OSError as exc:
        return 0, "", repr(exc).encode(), time.monotonic() - started
    finally:
        connection.close()
result = {}
started, statuses, status = time.monotonic(), [], 0
while time.monotonic() - started < args["timeout"]:
    status = call("GET", args["ping_route"], timeout=5.0)[0]
    if not statuses or statuses[-1] != status:
        statuses.append(status)
    if status == 200:
        break
    time.sleep(0.2)
result["ping"] = {"status": status, "ready_after": round(time.monotonic() - started, 2), "seen": statuses}
if status == 200:
    headers = {"Content-Type": args["content_type"], "Accept": args["accept"]}
    if args["attributes_header"]:
        headers[args["attributes_header"]] = "mldock-contract=1"
    status, content_type, body, took = call("POST", args["predict_route"], payload, headers)
    result["invoke"] = {"status": status, "content_type": content_type, "took": round(took, 3),
                        "body": body[:args["body_limit"]].decode("utf-8", "replace")}
    result["gets"] = {route: call("GET", route)[0] for route in args["gets"]}
    if args["execution_route"]:
        status, content_type, body, took = call("GET", args["execution_route"])
        result["execution_parameters"] = {"status": status, "body": body[:300].decode("utf-8", "replace")}
    stop = threading.Event()
    answered = []
    def load():
        while not stop.is_set():
            answered.append(call("POST", args["predict_route"], payload, {"Content-Type": args["content_type"]})[0])
    workers = [threading.Thread(target=load, daemon=True) for _ in range(args["busy"])]
    for worker in workers:
        worker.start()
    time.sleep(0.5)
    pings = []
    for _ in range(args["pings"]):
        ping_status, _, _, took = call("GET", args["ping_route"], timeout=10.0)
        pings.append([ping_status, round(took, 3)])
        time.sleep(0.1)
    stop.set()
    for worker in workers:
        worker.join(60)
    result["busy_ping"] = {"pings": pings, "max": max(t for _, t in pings), "predictions_meanwhile": len(answered),
                           "prediction_statuses": sorted(set(answered))}
print("MLDOCK-PROBE " + json.dumps(result))
"""

_MARKER = "MLDOCK-PROBE "


def probe_arguments(
    payload: bytes,
    content_type: str,
    *,
    accept: str = "*/*",
    port: int = contract.DEFAULT_SERVE_PORT,
    timeout: float = 120.0,
    busy: int = 8,
    pings: int = 10,
    ping_route: str = contract.DEFAULT_HEALTH_ROUTE,
    predict_route: str = contract.DEFAULT_PREDICT_ROUTE,
    execution_route: str | None = contract.SAGEMAKER_EXECUTION_PARAMETERS_ROUTE,
    attributes_header: str | None = contract.SAGEMAKER_CUSTOM_ATTRIBUTES_HEADER,
    body_limit: int = 300,
    gets: tuple[str, ...] = (),
) -> str:
    """The probe's one argument: what to send, where, and how long to wait for the health route.

    The defaults are SageMaker's (port 8080, GET /ping, POST /invocations with the custom attributes header,
    GET /execution-parameters); another platform gives its own, None leaving that part out.
    `body_limit`: how many bytes of the prediction's answer the result keeps; `gets`: more routes to GET once
    healthy (their statuses in `result["gets"]`).
    """
    return json.dumps(
        {
            "port": port,
            "payload": base64.b64encode(payload).decode("ascii"),
            "content_type": content_type,
            "accept": accept,
            "timeout": timeout,
            "busy": busy,
            "pings": pings,
            "ping_route": ping_route,
            "predict_route": predict_route,
            "execution_route": execution_route,
            "attributes_header": attributes_header,
            "body_limit": body_limit,
            "gets": list(gets),
        }
    )


def parse_result(output: bytes | str) -> dict[str, Any]:
    """The probe's JSON result from its output; RunnerError quoting the output when there is none."""
    text = output.decode("utf-8", "replace") if isinstance(output, bytes) else output
    for line in reversed(text.splitlines()):
        if line.startswith(_MARKER):
            result: dict[str, Any] = json.loads(line[len(_MARKER) :])
            return result
    raise RunnerError(f"the hosting probe printed no result; its output:\n{text[-2000:]}")
