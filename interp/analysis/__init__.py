"""Analyses that turn activation stores into tables and plots (per-layer probe summaries, ...)."""

from interp.analysis.layers import format_summary, layer_summary, plot_layer_summary

__all__ = ["format_summary", "layer_summary", "plot_layer_summary"]
