"""Plan: pure decisions; desired (model) vs observed state gives one action per release and the DAG."""
