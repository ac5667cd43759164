#!/usr/bin/env python3
"""Generates crates/protobuf/src/table.txt from the prost sources of the k8s-pb crate.

Kubernetes' protobuf wire format is defined by the `generated.proto` files of k8s.io/api,
apimachinery and apiextensions-apiserver. The k8s-pb crate carries prost's rendering of exactly
those files, so its `#[prost(...)]` attributes are a complete, machine-readable copy of the
field numbers and wire types. This script keeps only what the decoder needs: for every message,
each field's tag, prost's snake-case name (matched against the OpenAPI property names at run
time, never turned into JSON names here), its kind and the message it refers to.

Usage: python3 tools/gen_protobuf_table.py [K8S_PB_SRC_DIR] > crates/protobuf/src/table.txt
Without an argument the newest k8s-pb-0.9.0 in ~/.cargo/registry/src is used.

Output format (line oriented, parsed by crates/protobuf/src/table.rs):
    @ <proto package>                 following messages belong to this package
    > <MessageName>                   a message (prost's PascalCase spelling)
    <tag> <snake_name> <kind>[*] [<type>]
kind: s string, i int32, l int64, b bool, d double, y bytes, m message, and maps (repeated
key/value entry messages) Ms/My/Mm for string/bytes/message values. `*` marks repeated fields.
<type> is the referenced message: a bare name for the current package, else the full name.
"""

import glob
import os
import re
import sys

# The API groups skiff serves, plus the apimachinery and apiextensions packages they use.
API_GROUPS = [
    "core", "apps", "batch", "autoscaling", "networking", "discovery", "coordination", "events",
    "rbac", "scheduling", "storage", "policy", "node", "authentication", "authorization",
    "certificates",
]
APIMACHINERY = [
    "apimachinery/pkg/apis/meta/v1",
    "apimachinery/pkg/runtime",
    "apimachinery/pkg/util/intstr",
    "apimachinery/pkg/api/resource",
]
# Only GA versions (v1, v2): skiff serves no beta or alpha versions, and leaving them out halves
# the table.
GA_VERSION = re.compile(r"^v[0-9]+$")

SCALARS = {"string": "s", "int32": "i", "int64": "l", "bool": "b", "double": "d", "bytes": "y", "message": "m"}
MAP_VALUES = {"string": "s", "bytes": "y", "message": "m"}

ATTR = re.compile(r"^\s*#\[prost\((.*)\)\]\s*$")
STRUCT = re.compile(r"^pub struct (\w+) \{")
FIELD = re.compile(r"^\s*pub (?:r#)?(\w+):\s*(.*)$", re.S)


def default_src():
    found = sorted(glob.glob(os.path.expanduser("~/.cargo/registry/src/*/k8s-pb-0.9.0/src")))
    if not found:
        sys.exit("k8s-pb-0.9.0 not found in ~/.cargo/registry/src; pass its src directory")
    return found[-1]


def selected_modules(src):
    """Module paths (lists of components) of the files to read."""
    mods = []
    for group in API_GROUPS:
        for path in sorted(glob.glob(os.path.join(src, "api", group, "*", "mod.rs"))):
            version = os.path.basename(os.path.dirname(path))
            if GA_VERSION.match(version):
                mods.append(["api", group, version])
    for rel in APIMACHINERY:
        mods.append(rel.split("/"))
    for path in sorted(glob.glob(os.path.join(src, "apiextensions_apiserver/pkg/apis/apiextensions/*/mod.rs"))):
        version = os.path.basename(os.path.dirname(path))
        if GA_VERSION.match(version):
            mods.append(["apiextensions_apiserver", "pkg", "apis", "apiextensions", version])
    return mods


def package(module):
    return "k8s.io." + ".".join(module)


def parse_attr(attr):
    """(kind letters, repeated) from the inside of `#[prost(...)]`."""
    m = re.match(r'btree_map\s*=\s*"string,\s*(\w+)"', attr)
    if m:
        value = m.group(1)
        if value not in MAP_VALUES:
            raise ValueError(f"unsupported map value type {value!r}")
        return "M" + MAP_VALUES[value], False
    # Outside maps no quoted value holds a comma (`bytes = "vec"`, `packed = "false"`).
    parts = [p.strip() for p in attr.split(",")]
    name = parts[0].split("=")[0].strip()
    if name not in SCALARS:
        raise ValueError(f"unsupported prost field type {parts[0]!r}")
    return SCALARS[name], "repeated" in parts


def parse_tag(attr):
    return int(re.search(r'tag\s*=\s*"(\d+)"', attr).group(1))


def referenced_type(rust_type, module):
    """The message a field's Rust type refers to, as (module, name); None for scalars."""
    tokens = [t for t in re.split(r"[<>,\s]+", rust_type) if t and not t.startswith("::")]
    if not tokens:
        return None
    if len(tokens) != 1:
        raise ValueError(f"cannot resolve type {rust_type!r}")
    path = tokens[0].split("::")
    base = list(module)
    while path[0] == "super":
        path.pop(0)
        base.pop()
    return base + path[:-1], path[-1]


def parse_module(src, module):
    """Yields (message name, [(tag, name, kind, repeated, ref)]) for one prost module file."""
    with open(os.path.join(src, *module, "mod.rs"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    messages = []
    current = None
    i = 0
    while i < len(lines):
        line = lines[i]
        m = STRUCT.match(line)
        if m:
            current = (m.group(1), [])
            messages.append(current)
        elif line == "}":
            current = None
        else:
            a = ATTR.match(line)
            if a and current is not None:
                attr = a.group(1)
                # The field declaration may wrap; join lines until its type is complete.
                decl = ""
                i += 1
                while True:
                    decl += " " + lines[i].strip()
                    if decl.count("<") == decl.count(">") and decl.rstrip().endswith(","):
                        break
                    i += 1
                f = FIELD.match(decl.strip())
                if not f:
                    raise ValueError(f"unparsed field in {module}: {decl!r}")
                kind, repeated = parse_attr(attr)
                ref = None
                if kind in ("m", "Mm"):
                    ref = referenced_type(f.group(2).rstrip(","), module)
                current[1].append((parse_tag(attr), f.group(1), kind, repeated, ref))
        i += 1
    return messages


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else default_src()
    modules = selected_modules(src)
    known = set()
    parsed = []
    for module in modules:
        messages = parse_module(src, module)
        parsed.append((module, messages))
        known.update((package(module), name) for name, _ in messages)

    out = []
    for module, messages in parsed:
        pkg = package(module)
        out.append(f"@ {pkg}")
        for name, fields in messages:
            out.append(f"> {name}")
            for tag, fname, kind, repeated, ref in fields:
                line = f"{tag} {fname} {kind}{'*' if repeated else ''}"
                if ref is not None:
                    ref_pkg, ref_name = package(ref[0]), ref[1]
                    if (ref_pkg, ref_name) not in known:
                        sys.exit(f"{pkg}.{name}.{fname} refers to {ref_pkg}.{ref_name}, which is not selected")
                    line += " " + (ref_name if ref_pkg == pkg else f"{ref_pkg}.{ref_name}")
                out.append(line)
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
