# SPDX-License-Identifier: MIT
# Type stubs for the parts of pyelftools that moat uses (pyelftools ships none).
