"""The Prefect edge and the scheduled side: the flow, one deployment per study, the local server and runner,
crash detection and the status query. Nothing below this package imports Prefect."""
