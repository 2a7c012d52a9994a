"""The course's figures draw what they are given."""

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_lib.plotting import (  # noqa: E402
    learning_curve,
    parity_plot,
    periodic_table_heatmap,
    periodic_table_position,
)


def test_positions():
    assert periodic_table_position("H") == (0, 0)
    assert periodic_table_position("He") == (0, 17)
    assert periodic_table_position("Fe") == (3, 7)
    assert periodic_table_position("La") == (8, 2)
    assert periodic_table_position("Lr") == (9, 16)


def test_heatmap_draws_every_element():
    ax = periodic_table_heatmap({"Na": 1.0, "Cl": 3.0}, label="x")
    texts = [t.get_text() for t in ax.texts]
    assert {"Na", "Cl", "Og"} <= set(texts)
    assert "3" in texts  # the value under Cl
    with pytest.raises(ValueError, match="unknown element 'Xx'"):
        periodic_table_heatmap({"Xx": 1.0})


def test_parity_plot_reports_mae():
    ax = parity_plot([0.0, 1.0, 2.0], [0.5, 1.0, 2.5], units="eV")
    assert "MAE = 0.333 eV" in ax.get_legend().get_texts()[0].get_text()
    with pytest.raises(ValueError, match="same non-zero length"):
        parity_plot([1, 2], [1])


def test_learning_curve_lines():
    ax = learning_curve([10, 20, 40], {"a": [3, 2, 1], "b": [4, 3, 2]}, spread={"a": [0.1] * 3, "b": [0.2] * 3})
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    assert np.allclose(ax.lines[0].get_ydata(), [3, 2, 1])
    with pytest.raises(ValueError, match="has 2 points but there are 3"):
        learning_curve([10, 20, 40], [1, 2])
