"""``poolwarden budget``: the connection math of a whole deployment, as a CI gate (:func:`run`)."""

from poolwarden.budget.model import Deployment, load_deployment
from poolwarden.budget.report import BudgetReport, compute
from poolwarden.budget.run import BudgetOptions, BudgetRun, run

__all__ = ["BudgetOptions", "BudgetReport", "BudgetRun", "Deployment", "compute", "load_deployment", "run"]
