"""The official OpenFeature OFREP provider for Python (openfeature-provider-ofrep with
openfeature-sdk) as a client of `vario serve`. Reads the JSON object that
ofrep_clients.mjs reads on stdin and prints {"server": [...]}, one evaluation details
object per case."""

import json
import sys

from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext


def main() -> None:
    request = json.load(sys.stdin)
    sdk_key = request["sdk_key"]
    api.set_provider(OFREPProvider(request["url"], headers_factory=lambda: {"Authorization": f"Bearer {sdk_key}"}))
    client = api.get_client()
    getter = {
        "boolean": client.get_boolean_details,
        "string": client.get_string_details,
        "number": client.get_float_details,
        "integer": client.get_integer_details,
        "object": client.get_object_details,
    }
    results = []
    for case in request["cases"]:
        attributes = dict(case["context"])
        targeting_key = attributes.pop("targetingKey", None)
        context = EvaluationContext(targeting_key=targeting_key, attributes=attributes)
        details = getter[case["type"]](case["key"], case["default"], context)
        results.append(
            {
                "key": details.flag_key,
                "value": details.value,
                "variant": details.variant,
                "reason": details.reason.value if hasattr(details.reason, "value") else details.reason,
                "errorCode": details.error_code.value if details.error_code else None,
                "metadata": dict(details.flag_metadata or {}),
            }
        )
    api.shutdown()
    json.dump({"server": results}, sys.stdout)


if __name__ == "__main__":
    main()
