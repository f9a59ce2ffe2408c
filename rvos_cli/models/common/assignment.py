"""The linear sum assignment problem (Hungarian matching of DETR-style set losses), without scipy.

`linear_sum_assignment` follows scipy's: the shortest augmenting path method of Crouse (2016),
"On implementing 2D rectangular assignment algorithms", with the same order of rows, the same
scan order over the remaining columns and the same tie-breaking, in float64. So on the matrices
the matchers build (a few targets x 50 queries) it returns what scipy returns, ties included.
"""

from __future__ import annotations

import math

import numpy as np


def linear_sum_assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row indices, column indices) of a minimum-cost matching of a [R, C] cost matrix.

    min(R, C) pairs, the row indices ascending, as `scipy.optimize.linear_sum_assignment(cost)`.
    Raises ValueError on NaN or -inf entries, or when no finite matching exists.
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2:
        raise ValueError(f"expected a matrix, got shape {cost.shape}")
    if cost.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy()
    if np.isnan(cost).any() or np.isneginf(cost).any():
        raise ValueError("cost matrix contains NaN or -inf")
    transpose = cost.shape[1] < cost.shape[0]
    matrix = cost.T if transpose else cost
    col4row = _solve(matrix.tolist(), matrix.shape[1])
    if transpose:  # rows of the transposed problem are the columns of the original
        order = np.argsort(col4row, kind="stable")
        return np.asarray(col4row, dtype=np.int64)[order], order.astype(np.int64)
    return np.arange(len(col4row), dtype=np.int64), np.asarray(col4row, dtype=np.int64)


def _solve(cost: list[list[float]], num_cols: int) -> list[int]:
    """col4row of a wide (rows <= columns) problem: one augmenting path per row, then the duals updated."""
    num_rows = len(cost)
    u, v = [0.0] * num_rows, [0.0] * num_cols
    col4row, row4col = [-1] * num_rows, [-1] * num_cols
    path = [-1] * num_cols
    for current in range(num_rows):
        sink, min_value, shortest, visited_rows, visited_cols = _augmenting_path(cost, u, v, path, row4col, current)
        u[current] += min_value
        for i in range(num_rows):
            if visited_rows[i] and i != current:
                u[i] += min_value - shortest[col4row[i]]
        for j in range(num_cols):
            if visited_cols[j]:
                v[j] -= min_value - shortest[j]
        j = sink
        while True:  # flip the path's edges into the matching
            i = path[j]
            row4col[j] = i
            col4row[i], j = j, col4row[i]
            if i == current:
                break
    return col4row


def _augmenting_path(cost, u, v, path, row4col, row):
    """Dijkstra from `row` over reduced costs to the nearest free column (scipy's `augmenting_path`)."""
    num_cols = len(v)
    min_value = 0.0
    # Reverse order: a constant matrix then gives the identity matching, as scipy's.
    remaining = list(range(num_cols - 1, -1, -1))
    shortest = [math.inf] * num_cols
    visited_rows, visited_cols = [False] * len(u), [False] * num_cols
    sink, i = -1, row
    while sink == -1:
        visited_rows[i] = True
        index, lowest = -1, math.inf
        for position, j in enumerate(remaining):
            reduced = min_value + cost[i][j] - u[i] - v[j]
            if reduced < shortest[j]:
                path[j] = i
                shortest[j] = reduced
            # Among equally short paths prefer one that ends at a free column.
            if shortest[j] < lowest or (shortest[j] == lowest and row4col[j] == -1):
                lowest, index = shortest[j], position
        min_value = lowest
        if min_value == math.inf:
            raise ValueError("cost matrix is infeasible")
        j = remaining[index]
        if row4col[j] == -1:
            sink = j
        else:
            i = row4col[j]
        visited_cols[j] = True
        remaining[index] = remaining[-1]
        remaining.pop()
    return sink, min_value, shortest, visited_rows, visited_cols
