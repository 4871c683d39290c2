"""Results out: the Parquet store (:mod:`.store`), non-dominated sets (:mod:`.front`), the
`dse pareto` report (:mod:`.report`) and the shared terminal tables (:mod:`.tables`)."""
