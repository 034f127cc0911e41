"""Comparing two classifiers scored on the same images: metrics side by side, a paired test, figures.

No Django here: the lifecycle app scores the images and stores what
:func:`compare.compare_results` returns; :mod:`figures` draws it.
"""
