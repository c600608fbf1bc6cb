"""Seccomp policies: the model, its meaning (evaluator), and file formats."""

from tracebench.policy.model import (
    ALLOW,
    Action,
    Condition,
    Context,
    Gate,
    Policy,
    Rule,
)

__all__ = ["ALLOW", "Action", "Condition", "Context", "Gate", "Policy", "Rule"]
