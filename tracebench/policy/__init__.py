"""Seccomp policies: the model, its meaning (evaluator), and file formats."""

from tracebench.policy.model import (
    ALLOW,
    Action,
    Condition,
    Context,
    Gate,
    Policy,
    Rule,
    context,
)

__all__ = ["ALLOW", "Action", "Condition", "Context", "Gate", "Policy", "Rule", "context"]
