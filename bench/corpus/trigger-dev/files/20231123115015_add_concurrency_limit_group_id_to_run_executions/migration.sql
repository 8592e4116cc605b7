ALTER TABLE
  "triggerdotdev_events"."run_executions"
ADD
  COLUMN "concurrency_limit_group_id" text;