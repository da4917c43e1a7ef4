"""What test files share: builders, constants and fixtures. Test files import from here, never from each other.

The fixtures (`real_dirs`, `synth_dir`, `recording`) are registered in tests/conftest.py, so a test names them
as arguments without importing them.
"""
