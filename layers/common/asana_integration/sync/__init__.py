"""The data sync (issue 9): an organization's Asana teams, users, memberships, projects and imported projects' tasks
mirrored into DynamoDB, in small resumable units of work that fan out on SQS.

- ``units``: the messages on the queue (a run's start, and its units of work).
- ``engine``: runs one message: takes the run's lease and plans, or runs a unit and completes it exactly once.
- ``planner``, ``listing``, ``tasks``: what each unit does (plan the run; page a list into the mirror; follow an
  imported project's changes incrementally).
- ``rate_budget``, ``meter``: one Asana rate budget shared by an organization's workers; counting each call.
- ``entities``: which fields of each Asana object are mirrored.
- ``queue``, ``starter``: sending messages; starting a run (schedule, an admin's Start now, an import).

Which Asana identity acts for the organization is decided above this package (settings' access rules) and handed in
as a client factory, so the sync never chooses credentials itself.
"""
