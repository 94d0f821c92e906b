"""The one date format of every page, picker and the admin (settings.FORMAT_MODULE_PATH):
ISO dates with the weekday, 24-hour times, and the local time zone named on every
date-time (its abbreviation, e.g. CET; the footer names the zone in full). Templates
use the names: {{ value|date:"DATETIME_FORMAT" }}, {{ born|date:"SHORT_DATE_FORMAT" }}.
"""

DATE_FORMAT = "D Y-m-d"  # Tue 2026-12-01
DATETIME_FORMAT = "D Y-m-d H:i T"  # Tue 2026-12-01 14:30 CET
SHORT_DATE_FORMAT = "Y-m-d"  # 1978-03-04: birth dates, table columns
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
TIME_FORMAT = "H:i"
MONTH_DAY_FORMAT = "D m-d"
YEAR_MONTH_FORMAT = "Y-m"
FIRST_DAY_OF_WEEK = 1  # Monday
# What a picker or a typed field shows and reads (the first is what it shows).
DATE_INPUT_FORMATS = ["%Y-%m-%d"]
TIME_INPUT_FORMATS = ["%H:%M", "%H:%M:%S"]
DATETIME_INPUT_FORMATS = ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"]
DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
