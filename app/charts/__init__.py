"""Pure chart functions: numbers in, plotly Figures out — no Streamlit, unit-tested in tests/test_charts.py.

Statistics label themselves: a function that plots a :class:`core.util.stat.Stat` takes its axis title from the
Stat's name and unit and its axis range from the Stat's range. Blocks are 0-based in every argument and
1-based on every axis. Named traces the tests (and readers) can find: "threshold" (the policy's threshold
line), "exit" (the exit marker), "pareto front", "current".

    common   colours (each policy's own, from its description), margins, the block axis
    sample   one sample's trip (Playground, Learn, the Prototypes page's drill-down)
    dataset  a dataset's exits (Threshold debugger, Prototypes, Compare)
    weights  binarized weights
"""
from app.charts.common import (  # noqa: F401
                               CLASS_COLORS,
                               COHORT_COLORS,
                               EXIT_COLOR,
                               POLICY_COLORS,
                               THRESHOLD_COLOR,
                               export_config,
                               fmt_flops,
                               stat_title,
)
from app.charts.dataset import *  # noqa: F401,F403
from app.charts.explain import *  # noqa: F401,F403
from app.charts.sample import *  # noqa: F401,F403
from app.charts.weights import *  # noqa: F401,F403
