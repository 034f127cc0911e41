"""DICOMweb (PS3.18): STOW-RS and QIDO-RS over the intake service and the selectors. See docs/dicomweb.md."""
