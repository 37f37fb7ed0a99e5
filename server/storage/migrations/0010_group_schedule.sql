-- A group's weekly sessions (server/schedule.py), as one canonical line such as
-- 'tue 19:00-20:30,thu 22:00-01:00': wall-clock times in the organisation's time zone
-- ([groups] time_zone). '' is no schedule. The server writes only what it has checked.
ALTER TABLE groups ADD COLUMN schedule TEXT NOT NULL DEFAULT '';
