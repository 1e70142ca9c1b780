#!/usr/bin/env python3
"""openapi_routes.py - do api/routes.c (the routes sipd serves) and api/openapi.yaml (the routes
it documents) agree, both ways? And is the document sound where a reader relies on it: OpenAPI
3.0, every $ref resolves, every {param} of a path declared, a 2xx answer for every operation,
the bearer token on every write?

  openapi_routes.py ROUTES_C OPENAPI_YAML        check; exit 1 on any mismatch (one line each)
  openapi_routes.py --list OPENAPI_YAML          print "METHOD PATH" for every documented route
                                                 that is served from the route table

Path parameters are compared by position, not by name ({name} and {node} are the same). Paths
marked `x-sipd-static: true` (the status page) are served by the static-file fallback, not the
table, and are left out of the comparison.
"""

import re
import sys

import yaml

METHODS = ("get", "put", "post", "patch", "delete", "head", "options")
WRITES = ("put", "post", "patch", "delete")


def served_routes(routes_c):
    """{(METHOD, normalised pattern): pattern} of the rows of api_routes[]."""
    text = open(routes_c, encoding="utf-8").read()
    m = re.search(r"api_routes\[\]\s*=\s*\{(.*?)\n\};", text, re.S)
    if not m:
        raise SystemExit("%s: no api_routes[] table found" % routes_c)
    body = re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S)
    body = re.sub(r"//[^\n]*", "", body)
    rows = re.findall(r'\{\s*"([A-Z]+)"\s*,\s*"([^"]+)"\s*,', body)
    if not rows:
        raise SystemExit("%s: api_routes[] has no rows" % routes_c)
    return {(meth, norm(pat)): pat for meth, pat in rows}


def norm(path):
    return re.sub(r"\{[^}/]+\}", "{}", path)


def resolve(doc, node, problems, where):
    """Follow a local $ref (#/a/b/c)."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            problems.append("%s: $ref %s is not local" % (where, ref))
            return {}
        cur = doc
        for part in ref[2:].split("/"):
            if not isinstance(cur, dict) or part not in cur:
                problems.append("%s: $ref %s does not resolve" % (where, ref))
                return {}
            cur = cur[part]
        node = cur
        seen += 1
        if seen > 20:
            problems.append("%s: $ref loop at %s" % (where, ref))
            return {}
    return node


def all_refs(node, where, doc, problems):
    if isinstance(node, dict):
        if "$ref" in node:
            resolve(doc, node, problems, where)
        for k, v in node.items():
            all_refs(v, where, doc, problems)
    elif isinstance(node, list):
        for v in node:
            all_refs(v, where, doc, problems)


def documented_routes(doc, problems):
    """{(METHOD, normalised path): path} of the document's operations (static paths apart), and
    the static paths; structural problems appended."""
    if not str(doc.get("openapi", "")).startswith("3.0"):
        problems.append("openapi: the document must be OpenAPI 3.0.x (got %r)" % doc.get("openapi"))
    schemes = (doc.get("components") or {}).get("securitySchemes") or {}
    bearer = [n for n, s in schemes.items() if s.get("type") == "http" and s.get("scheme") == "bearer"]
    if not bearer:
        problems.append("components.securitySchemes: no http bearer scheme")
    all_refs(doc, "document", doc, problems)
    routes, static = {}, []
    for path, item in (doc.get("paths") or {}).items():
        if not path.startswith("/"):
            problems.append("path %r does not start with /" % path)
            continue
        if item.get("x-sipd-static"):
            static.append(path)
            continue
        path_params = item.get("parameters", [])
        for meth in METHODS:
            op = item.get(meth)
            if op is None:
                continue
            where = "%s %s" % (meth.upper(), path)
            routes[(meth.upper(), norm(path))] = path
            declared = set()
            for p in list(path_params) + list(op.get("parameters", [])):
                p = resolve(doc, p, problems, where)
                if p.get("in") == "path":
                    declared.add(p.get("name"))
                    if not p.get("required"):
                        problems.append("%s: path parameter %s must be required" % (where, p.get("name")))
            for name in re.findall(r"\{([^}/]+)\}", path):
                if name not in declared:
                    problems.append("%s: path parameter {%s} is not declared" % (where, name))
            resp = op.get("responses") or {}
            if not any(str(code).startswith("2") for code in resp):
                problems.append("%s: no 2xx response" % where)
            for code, r in resp.items():
                r = resolve(doc, r, problems, where)
                if "description" not in r:
                    problems.append("%s: response %s has no description" % (where, code))
            sec = op.get("security", doc.get("security"))
            if meth in WRITES:
                if not sec or any(not s for s in sec) or not all(
                        any(k in bearer for k in s) for s in sec):
                    problems.append("%s: a write must require the bearer token (security)" % where)
    return routes, static


def main(argv):
    if len(argv) == 2 and argv[0] == "--list":
        problems = []
        routes, _ = documented_routes(yaml.safe_load(open(argv[1], encoding="utf-8")), problems)
        for (meth, _), path in sorted(routes.items(), key=lambda kv: (kv[1], kv[0][0])):
            print(meth, path)
        return 0
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    served = served_routes(argv[0])
    problems = []
    doc = yaml.safe_load(open(argv[1], encoding="utf-8"))
    documented, static = documented_routes(doc, problems)
    for key in sorted(set(served) - set(documented)):
        problems.append("served but not in openapi.yaml: %s %s" % (key[0], served[key]))
    for key in sorted(set(documented) - set(served)):
        problems.append("in openapi.yaml but not served: %s %s" % (key[0], documented[key]))
    for path in static:
        if any(k[1] == norm(path) for k in served):
            problems.append("static path %s is in the route table too" % path)
    for p in problems:
        print("MISMATCH: " + p)
    print("%d served, %d documented (+%d static), %d problem(s)" % (
        len(served), len(documented), len(static), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
