"""Face nodes: detect and align every face of a batch, and paste restored crops back."""

from __future__ import annotations

from dataclasses import dataclass

from .api import io
from .links import FaceAlignmentLink

CATEGORY = "mofrr/faces"


@dataclass
class Faces:
    """The FACE_ALIGNMENT link: for each crop, the batch image it came from and its AlignedFace."""

    images: list[int]
    faces: list
    photo_sizes: list[tuple[int, int]]


class DetectAlignFaces(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MofrrDetectAlignFaces",
            display_name="Detect and align faces",
            category=CATEGORY,
            description="Finds every face (dlib, largest first) of each image and aligns it FFHQ-style to a square crop; "
                        "the crops of the whole batch come out as one IMAGE batch, with their alignment for pasting back. "
                        "An image without a face gives no crop (pasting back leaves it unchanged); with no face in any image the run stops.",
            inputs=[
                io.Image.Input("image"),
                io.Int.Input("size", default=256, min=64, max=1024, step=8, tooltip="side of the aligned crops"),
                io.Int.Input("max_faces", default=0, min=0, max=64, tooltip="faces per image, largest first (0: all)"),
            ],
            outputs=[io.Image.Output("crops", display_name="crops"), FaceAlignmentLink.Output("face_alignment", display_name="face_alignment")],
        )

    @classmethod
    def execute(cls, image, size=256, max_faces=0) -> io.NodeOutput:
        from mofrr_core.batch import each_item, unless_all_failed
        from mofrr_core.face_pipeline import align_faces

        from . import runtime

        photos = runtime.photos(image, "image")
        names = [f"image[{i}]" for i in range(len(photos))]
        found = unless_all_failed(each_item(photos, names, lambda photo, name: align_faces(photo.rgb, size, max_faces or None, name=name)))
        images, faces = [], []
        for i, outcome in enumerate(found):
            if not runtime.failed(outcome):
                images += [i] * len(outcome)
                faces += outcome
        return io.NodeOutput(runtime.to_image([face.crop for face in faces]), Faces(images, faces, [p.size for p in photos]))


class PasteFacesBack(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MofrrPasteFacesBack",
            display_name="Paste faces back",
            category=CATEGORY,
            description="Carries each crop's change (crop minus the aligned original) back into its image through the "
                        "inverse alignment, blended with a feathered edge so no seam shows; untouched pixels stay bit-exact.",
            inputs=[
                io.Image.Input("image"),
                io.Image.Input("crops"),
                FaceAlignmentLink.Input("face_alignment"),
                io.Float.Input("feather", default=0.06, min=0.0, max=0.5, step=0.01, tooltip="width of the blended edge, as a fraction of the crop side"),
            ],
            outputs=[io.Image.Output("image_out", display_name="image")],
        )

    @classmethod
    def execute(cls, image, crops, face_alignment: Faces, feather=0.06) -> io.NodeOutput:
        from mofrr_core.align import paste_back
        from mofrr_core.errors import MofrrError

        from . import runtime

        photos = runtime.photos(image, "image")
        restored = runtime.photos(crops, "crops")
        runtime.same_batch(len(restored), len(face_alignment.faces), "face_alignment")
        if [p.size for p in photos] != face_alignment.photo_sizes:
            raise MofrrError("image: not the images the faces were detected in (sizes differ); connect the detector's input image")
        rgbs = [p.rgb for p in photos]
        for i, face, crop in zip(face_alignment.images, face_alignment.faces, restored):
            if crop.rgb.shape != face.crop.shape:
                raise MofrrError(f"crops: a {crop.rgb.shape[1]}x{crop.rgb.shape[0]} crop cannot go back where a {face.crop.shape[1]}x{face.crop.shape[0]} crop came from")
            rgbs[i] = paste_back(rgbs[i], crop.rgb, face.alignment, feather, reference=face.crop)
        return io.NodeOutput(runtime.to_image([runtime.with_alpha(p, rgb) for p, rgb in zip(photos, rgbs)]))
