from django.db import models

from cases.models.study import Series


class ImageKind(models.TextChoices):
    DICOM = "dicom", "DICOM instance"
    IMAGE = "image", "Plain image"


class Image(models.Model):
    """One stored instance: a de-identified DICOM file or a plain image, with its renderings.

    Files live under ``storage_prefix``: the stored source, one display PNG per
    frame (``display_0000.png`` ...) and a thumbnail. They are written before
    this row is saved, so a row never points at a missing file.
    """

    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="images")
    # Denormalised from series.study.case so per-case queries need no joins.
    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="images")
    kind = models.CharField(max_length=8, choices=ImageKind.choices)
    sop_instance_uid = models.CharField(max_length=64, unique=True)
    sop_class_uid = models.CharField(max_length=64, blank=True)
    transfer_syntax_uid = models.CharField(max_length=64, blank=True)
    instance_number = models.IntegerField(null=True, blank=True)

    storage_prefix = models.CharField(max_length=200, unique=True)
    file = models.FileField(max_length=255)
    display = models.FileField(max_length=255, help_text="Display PNG of the key (middle) frame.")
    thumbnail = models.FileField(max_length=255)
    sha256 = models.CharField(
        max_length=64, unique=True, help_text="Of the bytes as uploaded: re-uploads are recognised."
    )
    stored_sha256 = models.CharField(max_length=64, help_text="Of the stored (de-identified) file.")
    file_size = models.BigIntegerField(default=0)

    rows = models.PositiveIntegerField()
    cols = models.PositiveIntegerField()
    frames = models.PositiveIntegerField(default=1)
    samples_per_pixel = models.PositiveSmallIntegerField(default=1)
    photometric = models.CharField(max_length=16, blank=True)
    bits_stored = models.PositiveSmallIntegerField(null=True, blank=True)
    pixel_spacing_row = models.FloatField(null=True, blank=True, help_text="mm")
    pixel_spacing_col = models.FloatField(null=True, blank=True, help_text="mm")
    window_center = models.FloatField(null=True, blank=True)
    window_width = models.FloatField(null=True, blank=True)
    burned_in_annotation = models.BooleanField(null=True, blank=True)
    header = models.JSONField(default=dict, blank=True, help_text="De-identified DICOM header.")
    warnings = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["series_id", "instance_number", "pk"]

    def __str__(self) -> str:
        return f"Image {self.pk} ({self.rows}x{self.cols}x{self.frames})"

    def display_name(self, frame: int) -> str:
        """Storage name of one frame's display PNG."""
        return f"{self.storage_prefix}/display_{frame:04d}.png"

    @property
    def number_label(self) -> str:
        """What every page calls this image: its DICOM instance number, else its id, said as such."""
        return f"Image {self.instance_number}" if self.instance_number is not None else f"Image id {self.pk}"

    @property
    def size_label(self) -> str:
        """Its size, the same way everywhere: rows (height) then columns (width)."""
        return f"{self.rows} rows \u00d7 {self.cols} columns"

    @property
    def key_frame(self) -> int:
        return self.frames // 2
