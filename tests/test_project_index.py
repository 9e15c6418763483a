"""Cross-module resolution: imports, re-exports, aliases, methods, class bases, roots."""

from __future__ import annotations

from pathlib import Path

from .conftest import run_check, write_tree

REPO = '''\
from sqlalchemy import select


async def fetch_plan(db, org):
    return (await db.execute(select(Plan))).scalar_one_or_none()


class Repo:
    def __init__(self, db):
        self.db = db

    async def plan(self, org):
        return await fetch_plan(self.db, org)
'''


def _codes_at(findings: list, name: str) -> set[tuple[int, str]]:
    return {(f.line, f.code) for f in findings if Path(f.path).name == name}


def test_re_export_through_package_init(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "app/data/repo.py": REPO,
        "app/data/__init__.py": "from .repo import fetch_plan\n",
        "app/svc.py": "from app.data import fetch_plan\n\nasync def plan(db, org):\n"
                      "    try:\n        return await fetch_plan(db, org)\n"
                      "    except Exception:\n        return None\n",
    })
    assert _codes_at(run_check([tmp_path]), "svc.py") == {(6, "PW101")}


def test_module_alias_and_attribute_call(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "app/repo.py": REPO,
        "app/svc.py": "import app.repo as r\n\nget = r.fetch_plan\n\nasync def plan(db, org):\n"
                      "    try:\n        return await get(db, org)\n    except Exception:\n        return None\n",
    })
    assert _codes_at(run_check([tmp_path]), "svc.py") == {(8, "PW101")}


def test_method_through_constructor_type_and_self(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "app/repo.py": REPO,
        "app/svc.py": "from app.repo import Repo\n\nclass Service:\n    def __init__(self, db):\n"
                      "        self.repo = Repo(db)\n\n    async def plan(self, db, org):\n        repo = Repo(db)\n"
                      "        try:\n            return await repo.plan(org)\n        except Exception:\n"
                      "            return None\n\n    async def plan2(self, db, org):\n        try:\n"
                      "            return await self.fetch(db, org)\n        except Exception:\n            return {}\n"
                      "\n    async def fetch(self, db, org):\n        return await self.repo.plan(org)\n"
                      "\n    async def plan3(self, db, org):\n        try:\n"
                      "            return await self.plan(db, org)\n        except Exception:\n            return {}\n",
    })
    # plan3 calls plan, whose own `except Exception` keeps every DB error: nothing reaches plan3's handler.
    assert _codes_at(run_check([tmp_path]), "svc.py") == {(11, "PW101"), (17, "PW101")}


def test_inherited_method(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "app/repo.py": REPO,
        "app/svc.py": "from app.repo import Repo\n\nclass PlanRepo(Repo):\n    pass\n\n"
                      "async def plan(db, org):\n    r: PlanRepo = PlanRepo(db)\n    try:\n"
                      "        return await r.plan(org)\n    except Exception:\n        return None\n",
    })
    assert _codes_at(run_check([tmp_path]), "svc.py") == {(10, "PW101")}


def test_same_package_name_in_two_roots_does_not_mix(tmp_path: Path) -> None:
    clean_repo = "async def fetch_plan(db, org):\n    return None\n"
    svc = "from app.repo import fetch_plan\n\nasync def plan(db, org):\n    try:\n" \
          "        return await fetch_plan(db, org)\n    except Exception:\n        return None\n"
    write_tree(tmp_path / "buggy", {"app/repo.py": REPO, "app/svc.py": svc})
    write_tree(tmp_path / "fixed", {"app/repo.py": clean_repo, "app/svc.py": svc})
    findings = run_check([tmp_path])
    where = {(Path(f.path).parent.parent.name, f.code) for f in findings}
    assert where == {("buggy", "PW101")}


def test_recursion_and_unknown_calls_terminate(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "app/a.py": "from app.b import g\n\ndef f(n):\n    try:\n        return g(n)\n    except Exception:\n"
                    "        return None\n",
        "app/b.py": "from app.a import f\nfrom missing.module import h\n\ndef g(n):\n    h()\n    return f(n - 1)\n",
    })
    assert run_check([tmp_path]) == []
