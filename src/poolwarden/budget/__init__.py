"""``poolwarden budget``: the connection math of a whole deployment, as a CI gate."""

from poolwarden.budget.model import Deployment, load_deployment
from poolwarden.budget.report import BudgetReport, compute

__all__ = ["BudgetReport", "Deployment", "compute", "load_deployment"]
