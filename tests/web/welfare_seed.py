"""Public-welfare posts seeded through the real services (ledger.projects, ledger.welfare) for the web
tests: a county-wide welfare-post project being carried out and one post held from 1 January 2026 by
the head of a household the caller has registered."""

from __future__ import annotations

import datetime as dt

from ledger import projects, welfare
from ledger.permissions import SYSTEM, Actor

WELFARE_PROJECT = "MATRIX-WELF"


def seed_posts(world, household_no: str, holder_id: str, holder_name: str, post_no: str = "MP-001",
               project: str = WELFARE_PROJECT) -> str:
    """The project (if new) and a forest-ranger post of ¥800.00 a month; returns the project code."""
    approver = Actor(world.user_ids["approver"], "approver", "approver")
    if projects.project_detail(world.engine, SYSTEM, project) is None:
        projects.create_project(world.engine, SYSTEM, projects.ProjectIn(project, "生态护林员等公益性岗位",
                                                                         "welfare_post", dt.date(2026, 1, 1),
                                                                         1_000_000_00))
        projects.change_project_status(world.engine, approver, project, "approved", "批复")
        projects.change_project_status(world.engine, SYSTEM, project, "implementing", "实施")
    welfare.upsert_posts(world.engine, SYSTEM, [welfare.PostIn(post_no, "forest", project, household_no, holder_id,
                                                               holder_name, 800_00, dt.date(2026, 1, 1))])
    return project
