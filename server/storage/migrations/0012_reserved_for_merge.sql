-- Branch facil only: holds number 12, which another branch's migration takes; this file is
-- dropped when the branches are merged (the migrations must be numbered without gaps).
SELECT 1;
