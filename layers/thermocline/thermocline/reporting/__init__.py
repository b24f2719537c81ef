"""Analytics reports: definitions shipped as files, their results typed and rendered (pure code).

``definition`` reads and checks ``thermocline/reports/<name>.yaml``; ``values`` holds the column types;
``chart`` draws SVG charts with pygal; ``render`` turns a checked result into Parquet, CSV and HTML. Running a
report on the warehouse and publishing it is ``services/analytics_report.py``.
"""
