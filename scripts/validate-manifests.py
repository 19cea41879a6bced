"""Validate rendered Kubernetes manifests (multi-document YAML files), for scripts/check-manifests.sh.

Run with the Python of the kubernetes-validate virtualenv (`scripts/stack.sh kubernetes-validate`):

    python validate-manifests.py --kubernetes-version 1.30.0 --schemas deploy/schemas FILE...

- Kubernetes' own kinds are checked with kubernetes-validate's strict schemas (unknown fields are
  errors) for the given Kubernetes version.
- Custom resources are checked against the JSON schemas vendored in --schemas, named
  `<group>/<kind lowercased>_<version>.json` (as kubeconform names them).
- An object of a kind neither knows is an error too: a manifest nobody validates is not accepted.

Prints one line per object (`ok` or the errors) and exits 1 if any object is invalid.
"""

import argparse
import json
import os
import sys

import jsonschema
import yaml
from kubernetes_validate import utils as kv


def custom_schema(schemas_dir, api_version, kind):
    if "/" not in api_version:
        return None
    group, version = api_version.split("/", 1)
    path = os.path.join(schemas_dir, group, f"{kind.lower()}_{version}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def where(error):
    return ".".join(str(p) for p in error.absolute_path) or "(top)"


def validate(obj, schemas_dir, k8s_version):
    """The errors of one object (empty when valid)."""
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    schema = custom_schema(schemas_dir, api_version, kind)
    if schema is not None:
        validator = jsonschema.Draft202012Validator(schema)
        return [f"{where(e)}: {e.message}" for e in sorted(validator.iter_errors(obj), key=str)]
    try:
        kv.validate(obj, k8s_version, strict=True)
        return []
    except kv.ValidationError as e:
        return [f"{where(e)}: {e.message}"]
    except kv.SchemaNotFoundError:
        return [f"no schema for {kind} {api_version}: neither a Kubernetes kind of "
                f"{k8s_version} nor vendored in {schemas_dir}"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubernetes-version", required=True)
    parser.add_argument("--schemas", required=True, help="directory of the vendored CRD schemas")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    invalid = 0
    for filename in args.files:
        with open(filename) as f:
            objects = [o for o in yaml.safe_load_all(f) if o]
        for obj in objects:
            name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
            errors = validate(obj, args.schemas, args.kubernetes_version)
            if errors:
                invalid += 1
                for error in errors:
                    print(f"INVALID {filename}: {name}: {error}")
            else:
                print(f"ok      {filename}: {name}")
    if invalid:
        print(f"{invalid} invalid object(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
