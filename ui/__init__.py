"""ClassMood's Streamlit layer: glue the pages share (cached resources, links, charts).

Only this package and the page scripts import Streamlit; everything they show is computed
by ``fer``.
"""
