"""The labspec (``template: "1.0"``): parse what real lab repositories contain.

Real specs are messy. What only describes the lab (developers, disciplines, service
packs, unknown keys) is tolerated whatever its shape; what ADS acts on (commands, sizes,
the OS, the architecture) must be right, and every problem found is reported with its
JSON path, what was found and what is allowed. The parser reports all problems it can
find in one go, so an author fixes a spec in one round. The model is
:mod:`ads.lab.labspec_model`, the document reader :mod:`ads.lab.labspec_reader`, the
section readers :mod:`ads.lab.labspec_sections`.
"""

from __future__ import annotations

from ads.errors import LabspecError
from ads.lab.labspec_model import Labspec
from ads.lab.labspec_reader import Reader, describe, load_document
from ads.lab.labspec_roles import parse_roles, read_role_drafts
from ads.lab.labspec_sections import (
    read_build,
    read_description,
    read_runtime,
    read_template,
    warn_on_disagreement,
)


def parse_labspec(source: str | bytes | dict) -> Labspec:
    """Read a labspec from its JSON text (or an already decoded object).

    Raises LabspecError listing every problem found.
    """
    reader = Reader()
    document = load_document(source, reader)
    if document is None:
        raise LabspecError(reader.problems)
    template = read_template(document, reader)
    lab = document.get("lab")
    if not isinstance(lab, dict):
        found = describe(lab) if "lab" in document else "nothing"
        allowed = "an object holding description, build_requirements and runtime_requirements"
        if "lab" not in document and {"runtime_requirements", "build_requirements"} & set(document):
            found += " (the requirements are at the top level)"
            allowed = 'the requirements wrapped in {"lab": {...}}'
        reader.problem("lab", found, allowed)
        raise LabspecError(reader.problems)
    name, lab_code = read_description(lab, reader)
    build = read_build(lab, reader)
    runtime = read_runtime(lab, reader)
    drafts = read_role_drafts(lab, reader)
    if reader.problems:
        raise LabspecError(reader.problems)
    warn_on_disagreement(build.platform, runtime.platform, reader)
    spec = Labspec(
        template=template,
        name=name,
        lab_code=lab_code,
        build=build,
        runtime=runtime,
        warnings=list(reader.warnings),
        document=document,
    )
    if not drafts:
        return spec
    # Each role's merged document has no roles of its own: one level of recursion.
    roles = parse_roles(document, drafts, spec, parse_labspec, reader)
    if reader.problems:
        raise LabspecError(reader.problems)
    return spec.model_copy(update={"roles": roles, "warnings": list(reader.warnings)})
