-- Reserved: version 18 is another branch's migration (issue 15, the durations rollups);
-- this file only keeps the versions without a gap until that branch is merged, which
-- replaces it. Placeholders: {db}.
SELECT 1;
