# SPDX-License-Identifier: MIT
"""Write a model back out as Xen ACM XML or as TOML (``moat policy convert``, tests)."""

from __future__ import annotations

import json

from .model import QUOTA_FIELDS, SCHED_FIELDS, TARGETED, Named, Policy
from .xmlreader import _TARGET_ELEMENTS, MOAT_NS

_TAGS = {key: tag for tag, key in _TARGET_ELEMENTS.items()}


def _x(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _types(out: list[str], ind: str, tag: str, types: list[Named]) -> None:
    out.append(f"{ind}<{tag}>")
    if types:
        out.extend(f"{ind}  <Type>{_x(t.name)}</Type>" for t in types)
    else:
        out.append(f"{ind}  <Type/>")
    out.append(f"{ind}</{tag}>")


def to_xml(p: Policy, licence: str | None = None) -> str:
    """The policy as Xen ACM XML; licence: an SPDX identifier for a comment line (none if None)."""
    o: list[str] = ['<?xml version="1.0" encoding="UTF-8"?>']
    if licence:
        o.append(f"<!-- SPDX-License-Identifier: {licence} -->")
    ns = ' xmlns:moat="%s"' % MOAT_NS if p.uses_extension() else ""
    o.append(
        '<SecurityPolicyDefinition xmlns="http://www.ibm.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="http://www.ibm.com ../../security_policy.xsd"{ns}>'
    )
    o.append("  <PolicyHeader>")
    o.append(f"    <PolicyName>{_x(p.name)}</PolicyName>")
    o.append(f"    <Version>{_x(p.version)}</Version>")
    if p.from_policy:
        o.append("    <FromPolicy>")
        o.append(f"      <PolicyName>{_x(p.from_policy[0])}</PolicyName>")
        o.append(f"      <Version>{_x(p.from_policy[1])}</Version>")
        o.append("    </FromPolicy>")
    o.append("  </PolicyHeader>")
    o.append("  <SimpleTypeEnforcement>")
    _types(o, "    ", "SimpleTypeEnforcementTypes", p.ste_types)
    o.append("  </SimpleTypeEnforcement>")
    o.append("  <ChineseWall>")
    _types(o, "    ", "ChineseWallTypes", p.chwall_types)
    if p.conflict_sets:
        o.append("    <ConflictSets>")
        for c in p.conflict_sets:
            o.append(f'      <Conflict name="{_x(c.name)}">')
            o.extend(f"        <Type>{_x(t.name)}</Type>" for t in c.types)
            o.append("      </Conflict>")
        o.append("    </ConflictSets>")
    o.append("  </ChineseWall>")
    o.append("  <SecurityLabelTemplate>")
    o.append(f'    <SubjectLabels bootstrap="{_x(p.bootstrap)}">')
    for v in p.vm_labels:
        o.append("      <VirtualMachineLabel>")
        frm = f' from="{_x(v.from_name)}"' if v.from_name is not None else ""
        o.append(f"        <Name{frm}>{_x(v.name)}</Name>")
        _types(o, "        ", "SimpleTypeEnforcementTypes", v.ste)
        _types(o, "        ", "ChineseWallTypes", v.chwall)
        if v.permissions is not None:
            pm = v.permissions
            o.append("        <moat:Permissions>")
            for key in TARGETED:
                tg = pm.targets(key)
                if tg is None:
                    continue
                tag = _TAGS[key]
                if tg.everyone:
                    o.append(f"          <moat:{tag}/>")
                    continue
                o.append(f"          <moat:{tag}>")
                o.extend(f"            <moat:Label>{_x(t.name)}</moat:Label>" for t in tg.labels)
                o.append(f"          </moat:{tag}>")
            if pm.load_policy:
                o.append("          <moat:LoadPolicy/>")
            if pm.devices:
                o.append("          <moat:AssignDevice>")
                o.extend(f"            <moat:Device>{_x(d.name)}</moat:Device>" for d in pm.devices)
                o.append("          </moat:AssignDevice>")
            o.append("        </moat:Permissions>")
        if v.quota is not None:
            attrs = "".join(f' {k}="{_quota_value(k, getattr(v.quota, k))}"' for k in QUOTA_FIELDS
                            if getattr(v.quota, k) is not None)
            o.append(f"        <moat:Quota{attrs}/>")
        if v.sched is not None:
            attrs = "".join(f' {k}="{getattr(v.sched, k)}"' for k in SCHED_FIELDS if getattr(v.sched, k))
            o.append(f"        <moat:Sched{attrs}/>")
        o.append("      </VirtualMachineLabel>")
    o.append("    </SubjectLabels>")
    if p.resource_labels:
        o.append("    <ObjectLabels>")
        for r in p.resource_labels:
            o.append("      <ResourceLabel>")
            o.append(f"        <Name>{_x(r.name)}</Name>")
            if r.ste is not None:
                _types(o, "        ", "SimpleTypeEnforcementTypes", r.ste)
            o.append("      </ResourceLabel>")
        o.append("    </ObjectLabels>")
    o.append("  </SecurityLabelTemplate>")
    o.append("</SecurityPolicyDefinition>")
    return "\n".join(o) + "\n"


def _quota_value(key: str, v: int) -> str:
    """A quota as the languages write it: memory as a size (64M, or 100K), the others as numbers."""
    if key != "memory":
        return str(v)
    return f"{v // 1024}M" if v % 1024 == 0 and v else f"{v}K"


def _s(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid TOML basic string for printable ASCII


def _l(items: list[Named]) -> str:
    return "[" + ", ".join(_s(t.name) for t in items) + "]"


def to_toml(p: Policy, licence: str | None = None) -> str:
    """The policy as TOML; licence: an SPDX identifier for the first line (none if None)."""
    o = [f"# SPDX-License-Identifier: {licence}"] if licence else []
    o += [
        "[policy]",
        f"name = {_s(p.name)}",
        f"version = {_s(p.version)}",
        f"bootstrap = {_s(p.bootstrap)}",
    ]
    if p.from_policy:
        o.append(f"from = {{ name = {_s(p.from_policy[0])}, version = {_s(p.from_policy[1])} }}")
    o += ["", "[types]", f"ste = {_l(p.ste_types)}", f"chwall = {_l(p.chwall_types)}"]
    for c in p.conflict_sets:
        o += ["", "[[conflict_set]]", f"name = {_s(c.name)}", f"types = {_l(c.types)}"]
    for v in p.vm_labels:
        o += ["", "[[vm]]", f"name = {_s(v.name)}", f"ste = {_l(v.ste)}", f"chwall = {_l(v.chwall)}"]
        if v.from_name is not None:
            o.append(f"from = {_s(v.from_name)}")
        if v.permissions is not None:
            pm = v.permissions
            parts = []
            for key in TARGETED:
                tg = pm.targets(key)
                if tg is not None:
                    parts.append(f"{key} = {'true' if tg.everyone else _l(tg.labels)}")
            if pm.load_policy:
                parts.append("load_policy = true")
            if pm.devices:
                parts.append(f"devices = {_l(pm.devices)}")
            o.append("permissions = { " + ", ".join(parts) + " }")
        if v.quota is not None:
            q = [f"{k} = {_s(_quota_value(k, getattr(v.quota, k))) if k == 'memory' else getattr(v.quota, k)}"
                 for k in QUOTA_FIELDS if getattr(v.quota, k) is not None]
            o.append("quota = { " + ", ".join(q) + " }")
        if v.sched is not None:
            o.append("sched = { " + ", ".join(f"{k} = {getattr(v.sched, k)}" for k in SCHED_FIELDS
                                              if getattr(v.sched, k)) + " }")
    for r in p.resource_labels:
        o += ["", "[[resource]]", f"name = {_s(r.name)}", f"ste = {_l(r.ste or [])}"]
    return "\n".join(o) + "\n"
