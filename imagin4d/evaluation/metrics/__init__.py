"""mmengine `BaseMetric` classes (registered in METRICS) that read HOIDataSample dicts and call `functional/`."""
