"""How long a pipeline-mode deploy job may run: the build's timeout, within what the job and its AWS session allow.

The deploy workflow's job runs the whole pipeline-mode deploy (prepare the change set, snapshot, the runner's
build, execute the change set) with one AWS role session, so the build's timeout (pipelineTimeoutMinutes) plus
the rest of the job must fit both the job's limit and the session's:

* GitHub-hosted runners end every job after 360 minutes (self-hosted runners: 5 days);
* an IAM role session lasts at most 12 hours (the role's MaxSessionDuration), and 1 hour when the role is
  assumed with another role's session (role chaining): the workflow assumes it directly, through OIDC.
"""

from __future__ import annotations

GITHUB_HOSTED_JOB_MINUTES = 360  # GitHub Actions: "each job ... can run for up to 6 hours" on GitHub-hosted runners
ROLE_SESSION_MAX_MINUTES = 12 * 60  # IAM: MaxSessionDuration at most 43200 s
CHAINED_SESSION_MAX_MINUTES = 60  # IAM: a role chaining session lasts at most one hour
# The rest of a pipeline-mode job: checkout and npm ci, the diff, preparing the change set (assets published),
# the snapshot's wait, executing the change set (its custom resource verifies nothing is pending).
PIPELINE_JOB_MARGIN_MINUTES = 60


def pipeline_job_minutes(pipeline_timeout_minutes: int) -> int:
    """The deploy job's timeout-minutes (and its session's length) a pipeline-mode deploy needs."""
    return pipeline_timeout_minutes + PIPELINE_JOB_MARGIN_MINUTES


def job_limit_problem(pipeline_timeout_minutes: int, self_hosted: bool) -> str | None:
    """Why this build timeout cannot fit the deploy job and its session; None when it does."""
    needed = pipeline_job_minutes(pipeline_timeout_minutes)
    session_room = ROLE_SESSION_MAX_MINUTES - PIPELINE_JOB_MARGIN_MINUTES
    if needed > ROLE_SESSION_MAX_MINUTES:
        return (
            f"at most {session_room} minutes: the deploy job ({PIPELINE_JOB_MARGIN_MINUTES} minutes more) runs on one"
            f" IAM role session, which lasts at most {ROLE_SESSION_MAX_MINUTES // 60} hours"
        )
    if needed > GITHUB_HOSTED_JOB_MINUTES and not self_hosted:
        return (
            f"at most {GITHUB_HOSTED_JOB_MINUTES - PIPELINE_JOB_MARGIN_MINUTES} minutes on GitHub-hosted runners,"
            f" which end every job after {GITHUB_HOSTED_JOB_MINUTES} minutes; up to {session_room} with"
            ' "selfHostedRunner": true (docs/operations.md)'
        )
    return None
