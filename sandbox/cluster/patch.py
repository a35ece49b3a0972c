"""The three PATCH content types a real API server accepts (server-side apply is not emulated).

* `application/json-patch+json` (RFC 6902), what `kubectl rollout undo` sends;
* `application/merge-patch+json` (RFC 7386), what `kubectl annotate` and `kubectl scale` send;
* `application/strategic-merge-patch+json`, what `kubectl set image`/`rollout pause` send: maps merge,
  lists of containers, env, volumes... merge by their patch merge key, directives `$patch`,
  `$setElementOrder/…`, `$retainKeys` and `$deleteFromPrimitiveList/…` are honoured.
"""

from __future__ import annotations

from typing import Any

from sandbox.cluster.util import ApiError, deep

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# patchMergeKey of the list fields the emulated types carry (k8s.io/api struct tags).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "ports": "containerPort",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "volumes": "name",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "ownerReferences": "uid",
    "conditions": "type",
    "resourceClaims": "name",
}
PRIMITIVE_MERGE = {"finalizers"}


def _unprocessable(message: str) -> ApiError:
    return ApiError(422, "Invalid", message)


# --- RFC 6902 ------------------------------------------------------------------------------


def _tokens(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise _unprocessable(f"invalid JSON pointer {pointer!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _walk(doc: Any, tokens: list[str], pointer: str, op: str) -> Any:
    """Follow `tokens` from `doc`; a missing step is kube-apiserver's 422 for that path."""
    node = doc
    for token in tokens:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise _unprocessable(f'{op} operation does not apply: doc is missing path: "{pointer}": missing value')
    return node


def _parent(doc: Any, pointer: str, op: str) -> tuple[Any, str]:
    tokens = _tokens(pointer)
    if not tokens:
        raise _unprocessable(f"{op} operation does not apply: doc is missing path: {pointer!r}")
    return _walk(doc, tokens[:-1], pointer, op), tokens[-1]


def _get(doc: Any, pointer: str, op: str) -> Any:
    return _walk(doc, _tokens(pointer), pointer, op)


def _add(doc: Any, pointer: str, value: Any) -> Any:
    if pointer == "":
        return value
    parent, key = _parent(doc, pointer, "add")
    if isinstance(parent, dict):
        parent[key] = value
    elif isinstance(parent, list):
        if key == "-":
            parent.append(value)
        elif key.isdigit() and int(key) <= len(parent):
            parent.insert(int(key), value)
        else:
            raise _unprocessable(f"add operation does not apply: index out of range: {pointer}")
    else:
        raise _unprocessable(f'add operation does not apply: doc is missing path: "{pointer}"')
    return doc


def _remove(doc: Any, pointer: str, op: str = "remove") -> Any:
    parent, key = _parent(doc, pointer, op)
    if isinstance(parent, dict) and key in parent:
        return parent.pop(key)
    if isinstance(parent, list) and key.isdigit() and int(key) < len(parent):
        return parent.pop(int(key))
    raise _unprocessable(f"{op} operation does not apply: doc is missing key: {pointer}")


def json_patch(doc: dict[str, Any], operations: Any) -> dict[str, Any]:
    if not isinstance(operations, list):
        raise ApiError(400, "BadRequest", "json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = deep(doc)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise _unprocessable(f"invalid JSON patch operation: {operation!r}")
        op, path = operation["op"], operation["path"]
        if op == "add":
            doc = _add(doc, path, deep(operation.get("value")))
        elif op == "remove":
            _remove(doc, path)
        elif op == "replace":
            if path == "":
                doc = deep(operation.get("value"))
                continue
            parent, key = _parent(doc, path, "replace")
            if isinstance(parent, dict) and key in parent:
                parent[key] = deep(operation.get("value"))
            elif isinstance(parent, list) and key.isdigit() and int(key) < len(parent):
                parent[int(key)] = deep(operation.get("value"))
            else:
                raise _unprocessable(f"replace operation does not apply: doc is missing key: {path}")
        elif op == "move":
            value = _remove(doc, operation["from"], "move")
            doc = _add(doc, path, value)
        elif op == "copy":
            doc = _add(doc, path, deep(_get(doc, operation["from"], "copy")))
        elif op == "test":
            if _get(doc, path, "test") != operation.get("value"):
                raise _unprocessable(f"testing value {path} failed: test failed")
        else:
            raise _unprocessable(f"Unexpected kind: {op}")
    return doc


# --- RFC 7386 ------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return deep(patch)
    result = deep(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- strategic merge -----------------------------------------------------------------------

_DELETE = object()


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value if not (isinstance(v, dict) and v.get("$patch") == "delete")]
    return value


def _merge_list(current: list[Any], patch: list[Any], key: str) -> list[Any]:
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [_strip_directives(p) for p in patch if not (isinstance(p, dict) and "$patch" in p)]
    result = deep(current)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            result.append(_strip_directives(item))
            continue
        index = next((i for i, c in enumerate(result) if isinstance(c, dict) and c.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
        elif index is None:
            result.append(_strip_directives(item))
        else:
            result[index] = strategic_merge(result[index], item)
    return result


def _reorder(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    ids = [o.get(key) if key and isinstance(o, dict) else o for o in order]

    def position(item: Any) -> int:
        ident = item.get(key) if key and isinstance(item, dict) else item
        return ids.index(ident) if ident in ids else len(ids)

    return sorted(items, key=position)


def strategic_merge(original: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return deep(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip_directives(patch)
    if directive == "delete":
        return _DELETE
    result = deep(original) if isinstance(original, dict) else {}
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value
        elif key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [v for v in result.get(field) or [] if v not in value]
        elif key.startswith("$"):
            continue
        elif value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = strategic_merge(result.get(key), value)
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list) and key in MERGE_KEYS and isinstance(result.get(key), list):
            result[key] = _merge_list(result[key], value, MERGE_KEYS[key])
        elif isinstance(value, list) and key in PRIMITIVE_MERGE and isinstance(result.get(key), list):
            result[key] = result[key] + [v for v in value if v not in result[key]]
        else:
            result[key] = _strip_directives(value)
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            result[field] = _reorder(result[field], order, MERGE_KEYS.get(field))
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def apply_patch(doc: dict[str, Any], content_type: str, body: Any) -> dict[str, Any]:
    if content_type == JSON_PATCH:
        return json_patch(doc, body)
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "the patch body must be a JSON object")
    if content_type == MERGE_PATCH:
        return merge_patch(doc, body)
    if content_type == STRATEGIC_MERGE_PATCH:
        result = strategic_merge(doc, body)
        return {} if result is _DELETE else result
    raise ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{JSON_PATCH}, {MERGE_PATCH}, {STRATEGIC_MERGE_PATCH}",
    )
