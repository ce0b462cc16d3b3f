"""Expands template.yaml into plain CloudFormation with the SAM translator, offline, for checkov.

checkov checks only part of what a SAM template becomes: the roles, rules, log settings and
permissions the translator generates get no checks until the template is expanded. The expansion
here is the one CloudFormation's AWS::Serverless transform would make, with three offline changes:

- local artifact paths (CodeUri, ContentUri, DefinitionUri) become placeholder S3 URIs, as
  `sam deploy` would make them after uploading, so that no bucket or upload is needed;
- AWS managed policy names resolve from the map bundled with the translator; the IAM lookup it
  would fall back to is replaced by an empty map (an unknown name stays as written);
- the region comes from AWS_DEFAULT_REGION (us-east-1 when unset); no credentials are used.

Each SAM resource's `Metadata` is copied onto every resource generated from it (the translator's
own `passthrough_metadata`), so a `checkov: skip:` entry written on a SAM function in
template.yaml also applies to its generated function, role, permissions and event rules. A skip
applies only to the check it names, and checks are specific to a resource type, so a function's
skip of a Lambda check leaves its role fully checked. Every skip must carry a `comment` giving
the reason: the expansion refuses a template with an unexplained one.

Usage: python scripts/expand_template.py [TEMPLATE] [OUTPUT]
(defaults: template.yaml and .aws-sam/expanded.json)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform

from warden_local.template import load_template

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = ROOT / "template.yaml"
DEFAULT_OUTPUT = ROOT / ".aws-sam" / "expanded.json"
ARTIFACT_PROPERTIES = ("CodeUri", "ContentUri", "DefinitionUri")
PLACEHOLDER_BUCKET = "bedrock-warden-offline-expansion"
MIN_REASON_WORDS = 4


class OfflinePolicyLoader:
    """Stands in for the translator's ManagedPolicyLoader, its fallback for names it does not bundle, without IAM."""

    def load(self) -> dict[str, str]:
        return {}


def with_placeholder_artifacts(template: dict[str, Any]) -> dict[str, Any]:
    """Points every local artifact path at a placeholder S3 object, as `sam deploy` would after uploading."""
    for logical, resource in template["Resources"].items():
        properties = resource.get("Properties") or {}
        for name in ARTIFACT_PROPERTIES:
            value = properties.get(name)
            if isinstance(value, str) and not value.startswith("s3://"):
                properties[name] = f"s3://{PLACEHOLDER_BUCKET}/{logical}/{name}"
    return template


def unexplained_skips(template: dict[str, Any]) -> list[str]:
    """Every checkov skip in the template that names no check or gives no reason."""
    problems = []
    for logical, resource in template["Resources"].items():
        metadata = resource.get("Metadata") or {}
        for skip in (metadata.get("checkov") or {}).get("skip") or []:
            check = skip.get("id") if isinstance(skip, dict) else None
            reason = skip.get("comment") if isinstance(skip, dict) else None
            if not isinstance(check, str) or not isinstance(reason, str) or len(reason.split()) < MIN_REASON_WORDS:
                problems.append(f"{logical}: checkov skip {skip!r} needs an id and a comment giving the reason")
    return problems


def expand(template_path: Path) -> dict[str, Any]:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template = with_placeholder_artifacts(load_template(template_path))
    expanded: dict[str, Any] = transform(template, {}, OfflinePolicyLoader(), passthrough_metadata=True)
    return expanded


def main(argv: list[str]) -> int:
    template_path = Path(argv[0]) if argv else DEFAULT_TEMPLATE
    output = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUTPUT
    try:
        problems = unexplained_skips(load_template(template_path))
        expanded = expand(template_path)
    except InvalidDocumentException as error:
        problems += [cause.message for cause in error.causes]
    if problems:
        print("\n".join(f"{template_path}: {problem}" for problem in problems), file=sys.stderr)
        return 1
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(expanded, indent=1) + "\n")
    print(f"{template_path.name}: {len(expanded['Resources'])} resources expanded into {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
