"""Analyses that turn activation stores into tables and plots (per-layer probe summaries, ...)."""

from interp.analysis.layers import layer_summary, plot_layer_summary

__all__ = ["layer_summary", "plot_layer_summary"]
