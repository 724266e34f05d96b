-- Maintenance (the reaper, the retention sweeps) runs in one worker at a time: the one that
-- holds the task's lease, renewed on every run (worker/outbox/sql/lease.ts). A lease that is not
-- renewed runs out, and another worker takes the task over.
CREATE TABLE IF NOT EXISTS arcyou_maintenance_leases (
  task       text PRIMARY KEY,
  holder     text NOT NULL,
  expires_at timestamptz NOT NULL
);
