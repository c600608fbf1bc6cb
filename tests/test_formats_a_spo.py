"""Kubernetes SeccompProfile (security-profiles-operator) YAML: documents, base profiles, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tracebench.errors import PolicyError
from tracebench.policy.formats import spo
from tracebench.policy.model import Action, Condition, Policy, Rule

FIXTURES = Path(__file__).parent / "fixtures" / "policies"
SPO_FILES = sorted(p.name for p in FIXTURES.glob("spo-*.yaml"))


def text_of(name: str) -> str:
    return (FIXTURES / name).read_text()


def summary(p: Policy) -> tuple[str, tuple[str, ...], dict[str, int]]:
    per_action: dict[str, set[str]] = {}
    for r in p.rules:
        per_action.setdefault(str(r.action), set()).update(r.names)
    return str(p.default_action), p.arches, {k: len(v) for k, v in per_action.items()}


def test_documents_in_file_order() -> None:
    assert {name: spo.documents(text_of(name), name) for name in SPO_FILES} == {
        "spo-baseprofile-crun.yaml": ["crun-v1.26"],
        "spo-baseprofile-runc.yaml": ["runc-v1.4.2"],
        "spo-seccompprofile-allowed-syscalls-validation.yaml": [
            "profile-allowed-syscalls", "profile-denied-syscalls", "profile-allow-all-syscalls",
            "profile-block-all-syscalls"],
        "spo-seccompprofile-examples.yaml": [
            "profile-block-all", "profile-complain-unsafe", "profile-allow-unsafe",
            "profile-complain-block-high-risk"],
        "spo-usage-profile1-with-runc-base.yaml": ["profile1", "runc-v1.4.2"],
    }


def test_every_profile_reads_to_its_golden_summary() -> None:
    got = {(name, doc): summary(p) for name in SPO_FILES
           for doc, p in spo.read_all(text_of(name), name).items()}
    x86 = ("x86_64",)
    assert got == {
        # Counted by hand in the files: 53 names for crun, 40 for runc.
        ("spo-baseprofile-crun.yaml", "crun-v1.26"): ("errno(1)", x86, {"allow": 53}),
        ("spo-baseprofile-runc.yaml", "runc-v1.4.2"): ("errno(1)", x86, {"allow": 40}),
        ("spo-seccompprofile-allowed-syscalls-validation.yaml", "profile-allowed-syscalls"):
            ("errno(1)", x86, {"allow": 4}),
        ("spo-seccompprofile-allowed-syscalls-validation.yaml", "profile-denied-syscalls"):
            ("errno(1)", x86, {"allow": 5, "errno(1)": 2}),
        # defaultAction: "SCMP_ACT_ALLOW" quoted, no syscalls, no architectures.
        ("spo-seccompprofile-allowed-syscalls-validation.yaml", "profile-allow-all-syscalls"):
            ("allow", (), {}),
        ("spo-seccompprofile-allowed-syscalls-validation.yaml", "profile-block-all-syscalls"):
            ("errno(1)", (), {}),
        ("spo-seccompprofile-examples.yaml", "profile-block-all"): ("errno(1)", (), {}),
        ("spo-seccompprofile-examples.yaml", "profile-complain-unsafe"): ("log", (), {}),
        ("spo-seccompprofile-examples.yaml", "profile-allow-unsafe"): ("allow", (), {}),
        ("spo-seccompprofile-examples.yaml", "profile-complain-block-high-risk"):
            ("log", x86, {"allow": 4, "errno(1)": 50}),
        # profile1 allows exit_group on top of runc's 40 (which has it already).
        ("spo-usage-profile1-with-runc-base.yaml", "profile1"): ("errno(1)", (), {"allow": 40}),
        ("spo-usage-profile1-with-runc-base.yaml", "runc-v1.4.2"):
            ("errno(1)", x86, {"allow": 40}),
    }


def test_choosing_a_document() -> None:
    name = "spo-seccompprofile-examples.yaml"
    text = text_of(name)
    with pytest.raises(PolicyError, match=r"4 SeccompProfiles in this file \(profile-block-all, "
                       r".*\): choose one as spo-seccompprofile-examples.yaml#NAME") as err:
        spo.read(text, name)
    assert err.value.path == name
    p = spo.read(text, f"{name}#profile-complain-block-high-risk")
    assert p.name == "profile-complain-block-high-risk"
    with pytest.raises(PolicyError, match="no SeccompProfile named 'nope'"):
        spo.read(text, f"{name}#nope")
    assert spo.read(text_of("spo-baseprofile-runc.yaml"), "x.yaml").name == "runc-v1.4.2"


def test_base_profile_from_the_same_file() -> None:
    name = "spo-usage-profile1-with-runc-base.yaml"
    p = spo.read(text_of(name), f"{name}#profile1")
    base = spo.read(text_of(name), f"{name}#runc-v1.4.2")
    assert p.names() == base.names() and "exit_group" in p.names()
    assert p.arches == ()  # profile1 names no architectures; the base's are not merged
    assert p.warnings == ("line 8: base profile 'runc-v1.4.2' merged in from this file",)


def test_base_profile_not_in_the_file() -> None:
    text = text_of("spo-usage-profile1-with-runc-base.yaml").split("---\n")[1]
    p = spo.read(text, "profile1.yaml")
    assert [r.names for r in p.rules] == [("exit_group",)]
    assert "this policy allows less than the operator would install" in p.warnings[0]
    # Under an allowing default the base's denials would be lost: refused.
    allowing = text.replace("defaultAction: SCMP_ACT_ERRNO", "defaultAction: SCMP_ACT_ALLOW")
    with pytest.raises(PolicyError, match="would lose the base's denials") as err:
        spo.read(allowing, "profile1.yaml")
    assert err.value.line == 7


def test_base_union_picks_the_less_restrictive_action_and_unions_args() -> None:
    text = """\
apiVersion: security-profiles-operator.x-k8s.io/v1beta1
kind: SeccompProfile
metadata: {name: child}
spec:
  defaultAction: SCMP_ACT_ERRNO
  baseProfileName: base
  syscalls:
  - action: SCMP_ACT_LOG
    names: [read, dup]
    args: [{index: 0, value: 2, op: SCMP_CMP_EQ}]
---
apiVersion: security-profiles-operator.x-k8s.io/v1beta1
kind: SeccompProfile
metadata: {name: base}
spec:
  defaultAction: SCMP_ACT_ERRNO
  syscalls:
  - action: SCMP_ACT_ALLOW
    names: [read]
  - action: SCMP_ACT_KILL
    names: [dup]
    args: [{index: 0, value: 1, op: SCMP_CMP_EQ}]
"""
    p = spo.read(text, "t.yaml#child")
    # read: allow (base, unconditional) beats log; dup: log beats kill, and the
    # args of both are kept, which runc turns into two rules (OR).
    assert [(r.names, r.action, r.conditions) for r in p.rules] == [
        (("dup",), Action("log"), (Condition(0, "eq", 1),)),
        (("dup",), Action("log"), (Condition(0, "eq", 2),)),
        (("read",), Action("allow"), ()),
    ]


@pytest.mark.parametrize(("old", "new", "message"), [
    ("SCMP_ACT_ALLOW", "SCMP_ACT_ALOW", "unknown action 'SCMP_ACT_ALOW'"),
    ("names:", "nmaes:", "unknown field 'nmaes' in spec.syscalls[0]"),
    ("architectures:", "arch:", "unknown field 'arch' in spec"),
    ("/v1\n", "/v2\n", "is not security-profiles-operator.x-k8s.io/v1|v1beta1|v1alpha1"),
    ("- setuid\n", "- [setuid]\n", "spec.syscalls[0].names[35] must be a string, not a list"),
    ("- setuid\n", "- setuid\n        - set uid\n", "'set uid' is not a syscall name"),
])
def test_bad_profiles_name_the_line(old: str, new: str, message: str) -> None:
    text = text_of("spo-baseprofile-runc.yaml").replace(old, new, 1)
    with pytest.raises(PolicyError) as err:
        spo.read(text, "runc.yaml")
    assert message in err.value.message
    needle = new.strip().split("\n")[-1].lstrip("- ").split(":")[0]
    assert err.value.line == text[: text.index(needle)].count("\n") + 1


def test_bad_yaml() -> None:
    with pytest.raises(PolicyError, match="bad YAML") as err:
        spo.read("kind: SeccompProfile\nspec: [\n", "x.yaml")
    assert err.value.line == 3
    with pytest.raises(PolicyError, match="no SeccompProfile"):
        spo.read("kind: Pod\n", "x.yaml")


def test_spo_limits_errno_ret_and_values() -> None:
    base = """apiVersion: security-profiles-operator.x-k8s.io/v1
kind: SeccompProfile
metadata: {name: t}
spec:
  defaultAction: SCMP_ACT_ALLOW
  syscalls:
  - {action: SCMP_ACT_ERRNO, names: [dup], errnoRet: 0,
     args: [{index: 0, value: 9223372036854775807, op: SCMP_CMP_GT}]}
"""
    p = spo.read(base, "t.yaml")
    # errnoRet 0 is "unset" in the CRD (int32, omitempty): EPERM.
    assert p.rules[0].action == Action("errno", 1)
    with pytest.raises(PolicyError, match=r"outside 0\.\.9223372036854775807"):
        spo.read(base.replace("807", "808"), "t.yaml")
    big = Policy(Action("allow"), (Rule(("dup",), Action("errno", 1),
                                        (Condition(0, "gt", 2**63),)),))
    with pytest.raises(PolicyError, match="argument values are int64"):
        spo.write(big)
    with pytest.raises(PolicyError, match="has no defaultErrnoRet"):
        spo.write(Policy(Action("errno", 38)))


def test_write_one_document() -> None:
    name = "spo-seccompprofile-examples.yaml"
    p = spo.read(text_of(name), f"{name}#profile-complain-block-high-risk")
    out = spo.write(p)
    doc = yaml.safe_load(out)
    original = next(d for d in yaml.safe_load_all(text_of(name))
                    if d["metadata"]["name"] == "profile-complain-block-high-risk")
    assert doc["apiVersion"] == "security-profiles-operator.x-k8s.io/v1"
    assert doc["metadata"] == {"name": "profile-complain-block-high-risk"}
    assert doc["spec"]["defaultAction"] == original["spec"]["defaultAction"]
    assert doc["spec"]["architectures"] == original["spec"]["architectures"]
    assert [(s["action"], sorted(s["names"])) for s in doc["spec"]["syscalls"]] == \
        [(s["action"], sorted(s["names"])) for s in original["spec"]["syscalls"]]
    assert spo.sniff(out)
