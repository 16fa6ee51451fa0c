-- Dead letters per source and reason from {start} to {end} (local days). Placeholders:
-- {db}, {start}, {end}.
SELECT source, reason, sum(dead_letters) AS dead_letters
FROM {db}.deadletter_daily
WHERE day >= toDate('{start}') AND day <= toDate('{end}')
GROUP BY source, reason
ORDER BY dead_letters DESC, source, reason
