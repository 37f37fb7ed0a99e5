-- A group's weekly sessions (../../migrations/0010_group_schedule.sql).
ALTER TABLE groups ADD COLUMN schedule TEXT NOT NULL DEFAULT '';
