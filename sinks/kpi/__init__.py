"""KPI queries over the stored tables and the weekly dispatch-meeting report."""
