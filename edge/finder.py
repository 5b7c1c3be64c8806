"""Finding digit candidates in a picture: the paper estimated and removed, ink measured against
the local noise, strokes thresholded, desks, shadows, rules and outlines dropped, broken strokes
merged. Every tuning number, of the finder and of the reader that uses it, is a field of
FinderSettings with the reason for its value. (reader.py reads the number from the candidates.)"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

WorkBox = tuple[int, int, int, int]  # x, y, w, h in working-image pixels (the picture resized for searching)
Edges = tuple[int, int, int, int]  # x0, y0, x1, y1: where the photo's own edges lie in a padded working image


@dataclass(frozen=True)
class Candidate:
    work_box: WorkBox
    ink: np.ndarray  # float32 ink strength in [0, 1] inside the box, other components masked out
    frame: bool = False  # its strokes enclose another candidate: a ring or box drawn around marks, not a digit
    mark: str | None = None  # set aside by the finder as MARK_SMALL or MARK_LINE (find_candidates' `marks`)


MARK_SMALL = "small"  # under half the height of the digits beside it: a dot, a dash, a blot, a stray mark
MARK_LINE = "line"  # a long thin line inside the picture: a pen, a ruler, a line drawn across the page


@dataclass(frozen=True)
class FinderSettings:
    """Every tuning number of finding and reading, each with its reason. Pass a changed copy to
    DigitReader(settings=...) (or find_candidates) to try another value; the defaults are what
    the benchmarks in the README measured."""

    # Working sizes
    work_side: int = 320  # the longer side the picture is scaled to before searching (speed vs small digits)
    fine_work_side: int = 640  # ...and for a second look when the digits found are small (below)
    small_digit: float = 0.09  # of the working image's shorter side: digits this small may have broken strokes
    finer_below_scale: float = 0.5  # the finer look only for pictures shrunk more than this (else it adds little)...
    enlarge_tiny: float = 2.0  # ...or for tiny digits (below): at least this much finer, the picture enlarged if need be
    thin_stroke: float = 1.5  # px at the working size: small digits' strokes thinner than this break into pieces a model
    # may read surely (a 9's stem as a 1), so the finer look is taken even after a convincing first one
    tiny_digit: float = 12  # px at the working size (0.6 of the model's 20-px digit box): small digits shorter than this
    # have lost detail; the model calls several not a digit while the rest convince, so they too are always looked at finer
    min_work_short_side: int = 120  # tiny scans (16x16 USPS, 40 px cheque amounts) are enlarged to this

    # A dithered picture of two levels (a fax, a scanner's halftone mode, a 1-bit PNG): its greys are dots
    dither_levels: float = 0.99  # two grey levels make at least this share of the picture...
    dither_dots: float = 0.01  # ...and a 3x3 median changes at least this share of its pixels (dots, not strokes:
    # the shared photos dithered 0.05 at the 5th percentile; thresholded, 0.0007 at the median)...
    dither_min_side: int = 64  # ...in a picture at least this large (a tiny scan's thin strokes are no dither)...
    dither_sigma: float = 1.5  # ...and it is read blurred by this many pixels: the dots become greys again

    # The paper and the noise (ink_image)
    paper_side: int = 64  # the paper is estimated on a copy this small (short side), for speed...
    paper_kernel: int = 21  # ...by a closing this wide there: a third of the picture, far wider than a stroke...
    paper_blur: int = 9  # ...then smoothed, so the estimate has no steps
    noise_cell: int = 4  # pixels: the picture's fine detail is averaged per cell of this side...
    noise_cells: int = 9  # ...and the median over this many cells across is the local noise (strokes are a minority)
    detail_per_sigma: float = 0.75  # departure from a 3x3 blur, per sigma of pixel noise, on average
    noise_floor_sigmas: float = 5.0  # ink must depart from the paper by this many local noise sigmas...
    min_floor: float = 20.0  # ...and by at least this many grey levels...
    min_floor_of_strongest: float = 0.4  # ...or this share of the picture's strongest ink, if less (low contrast)...
    strongest_ink: float = 99.9  # (the strongest ink: this percentile of the ink image)
    lowest_floor: float = 8.0  # ...but never less than this many grey levels
    relative_ink: bool = True  # dark ink measured against its own paper's brightness (Weber contrast), so a
    # stroke in a shadow or at the dim end of a lighting gradient is as strong as one in full light
    step_kernel_share: float = 0.33  # the paper follows hard lighting steps (a shadow's edge) with a closing at full
    # size this share of the coarse one wide (skipped when some ink is as wide: a bold close-up's strokes)
    lit_paper: float = 90.0  # percentile of the paper's brightness taken as fully lit: ink elsewhere is scaled to it...
    max_gain: float = 2.5  # ...by at most this much (paper in a deep shadow, a desk beside the sheet: no endless gain)...
    min_paper: float = 24.0  # ...and never for paper darker than this grey level

    # Strokes (find_candidates)
    desk_join: int = 5  # working pixels: pieces this close are one region for the textured-desk test...
    desk_pieces: int = 20  # ...and a region along the edge made of this many pieces is a textured desk...
    desk_dashes: float = 0.1  # ...at most this share of them dashes (a grid's), not blobs...
    desk_rest_ink: float = 0.15  # ...when the rest is paper: ink covers at most this share of it
    desk_edge_share: float = 0.12  # a first-pass piece along more than this share of the picture's edge is desk/shadow
    closeup_desk_edge_share: float = 0.3  # ...in a padded close-up, whose strokes may hug the photo's edges
    stroke_of_otsu: float = 0.6  # the stroke threshold: this much of Otsu's split of the ink (faint strokes kept)
    soft_rim_of_threshold: float = 0.5  # below this share of the threshold, a stroke's rim fades to no ink
    min_peak_over_floor: float = 1.5  # a candidate's darkest ink, over the noise floor: faint pencil passes, paper grain not
    min_piece_area: int = 6  # pixels: smaller pieces are specks
    hairline: float = 15.0  # a piece this many times longer than thick is a hairline...
    long_line: float = 8.0  # ...as is one this elongated...
    long_line_span: float = 0.35  # ...spanning this much of the picture (a paper edge, a ruled line)
    thin_one_height: float = 1.33  # an upright hairline within this ratio of the digits' median height, or of a piece
    # beside it in its line, is a thin 1
    outline_fill: float = 0.08  # ink over box area below which a large piece is an outline, not a digit...
    outline_extent: float = 0.3  # ...when it spans this much of the picture
    edge_reach: int = 2  # pixels: a thin piece this near a padded photo's own edge is that edge...
    edge_thin: int = 4  # ...when it is at most this thick
    rule_length: float = 0.25  # a thin straight run longer than this fraction of the picture's longer side is a
    # ruled line (a digit's bar or a 1 in a strip or a crop is shorter or thicker)...
    min_rule_length: int = 80  # working pixels: in a small (enlarged) scan a stroke can span a quarter of it
    rule_thickness: int = 5  # ...when it is thinner than this (working pixels)
    rule_floor: float = 0.5  # rules are looked for in ink above this share of the noise floor (faint printing)...
    rule_cover: float = 0.9  # ...as stretches this much covered by ink (gaps: noise, faint printing)...
    rule_tilt: int = 2  # ...allowing this many pixels of drift across them (a page photographed at a slight tilt)
    rule_slopes: tuple[float, ...] = (-0.14, -0.105, -0.07, -0.035, 0.035, 0.07, 0.105, 0.14)  # ...or at these slopes
    # (rows per column: 2-8 degrees either way, each covering about +-1.4 degrees with that drift), a page turned
    rule_slope_gain: float = 1.3  # ...taken when ink piles up along it this much more than level (squared row counts)
    rule_side_ink: float = 0.3  # ...and taken where at most this share of either side of a line is ink
    rule_line_ink: float = 0.5  # ...whose thin ink in the band is at least this much of the picture's width a line
    rule_search_lines: float = 2.0  # ...looked for where thin ink is enough for this many lines across the picture
    rule_end_reach: int = 4  # pixels beyond a line's end: ink there at both ends, not itself a line, makes the
    # line part of a drawn shape (a paper clip's wire, a bracket), not a rule; a rule ends at the paper's edge
    min_box: int = 8  # working pixels: a box drawn around a digit is at least this wide and high...
    box_max_fill: float = 0.5  # ...and its ink (with the digit's) covers at most this share of it...
    box_tilt: float = 0.06  # ...its sides tilted at most this much (3.4 degrees), and straight: seen from each side,
    box_straight: float = 0.8  # this share of its first ink on one line (the rest: corners, a digit, a gap)
    shadow_side: float = 0.25  # share of the paper around a piece as dark as the piece itself: the edge of a
    # shadow (dark on one side), not a stroke (paper on both sides)
    shadow_min_contrast: float = 8.0  # grey levels between paper and piece below which the test says nothing
    shadow_level: float = 0.3  # "as dark as the piece": within this share of the paper-to-piece contrast...
    shadow_ratio: float = 0.15  # ...and at most this much brighter than it (digits in a shadow: its paper is lighter
    # than their strokes by their own contrast, however dark the shadow)

    # Broken strokes merged into digits
    max_union_height: float = 1.5  # merged pieces stay within this many typical digit heights (never two lines)
    merge_x_overlap: float = 0.5  # pieces overlapping this much horizontally are one digit
    merge_y_gap: float = 0.5  # ...if the vertical gap is below this fraction of their height
    stack_max_overlap: float = 0.25  # stacked pieces (a slanted, broken 1): overlapping vertically at most this much
    stack_max_gap: float = 0.3  # ...of the shorter height, with a gap below this much of the taller one,
    stack_max_shift: float = 0.15  # ...apart sideways by at most this much of the union's height,
    stack_max_aspect: float = 0.75  # ...and the union no wider than this share of its height (a digit's shape)
    min_height_frac: float = 0.025  # of the working image's shorter side; the model rejects what is smaller junk
    min_relative_height: float = 0.5  # of the median candidate height; drops dots, specks and stray marks
    edge_relative_height: float = 3.0  # a straight line this many median heights tall is an edge of the sheet or of
    edge_straight: float = 0.25  # a table, not a 1 among the digits (its ink's spread across it, over along it, under this)
    piece_within: float = 0.5  # a mark inside a candidate's box, in none of its holes, at most this share of its
    # height, is a piece of its strokes
    border_sliver: int = 3  # working pixels: a piece at the picture's border this narrow is a line cut by it
    # (a squared page's line running down the picture's edge, 2-3 px wide at 320 px)...
    border_max_height: float = 2.0  # ...and one this many median heights tall runs along it: neither is a digit
    border_bar: float = 6.0  # a straight bar at the border, this many times longer than wide (across its slant)...
    border_bar_deg: float = 10.0  # ...running within this many degrees of the border it reaches, is a line cut by
    # it: a printed line at the edge of a page photographed turned enters the picture on a slant

    # Reading (reader.py)
    closeup: float = 0.6  # a candidate wider or taller than this fraction of the picture: a close-up...
    closeup_padding: float = 0.5  # ...looked at again surrounded by this much paper (of its longer side) each way
    not_a_digit: float = 0.5  # P(not a digit) from which a candidate is set aside
    max_digit_aspect: float = 2.5  # a candidate wider than this many heights is not one digit (the widest of the
    # 10,000 MNIST test digits: 2.0, a 5 with a long tail; on the real photos 1.6, a USPS 2 filling its scan)
    solid_thickness: float = 0.75  # a candidate whose widest stroke is this share of its size is a blot (MNIST: <= 0.6)
    blot_fill: float = 0.93  # a 0 whose ink fills this share of its convex hull is a blot: a 0 has a hole, or is
    # open (blots read as 0: 0.965-0.99; MNIST's 980 test 0s <= 0.85; the 0s read on the real photos, as they are,
    # at x0.35 and x0.5 and under the 11 changes, and the singles: <= 0.87); measured only for a 0 whose widest
    blot_min_solid: float = 0.35  # stroke is this share of its size at least (blots read as 0: >= 0.44; MNIST's 0s:
    # 2.6 % of them; the fill costs ~50 us a candidate)
    round_aspect: float = 0.8  # a candidate about as wide as tall (this ratio either way)...
    max_roundness: float = 0.02  # ...whose outline is a circle to this spread of its radius is a rim, not a 0 (the
    # roundest of MNIST's 980 test 0s: 0.035, of 128 0s on the real photos: 0.030; a drawn circle: 0.011)
    max_off_ellipse: float = 0.045  # a 0 standing alone whose ink lies on one thin ellipse to this spread is a rim
    # seen at a slant (0s read on the real photos, also at x0.35 and x0.5: >= 0.055; on our renders >= 0.088;
    # rings: 0.02-0.05; a printed 0 drawn thin, which stands in a line of digits: 0.037-0.040)...
    ellipse_aspect: float = 0.5  # ...no narrower than this (minor over major axis: a circle seen at up to 60 degrees)...
    ellipse_fill: float = 0.3  # ...and its ink covering at most this share of its box (a thin rim; and the fit is paid
    # only for such 0s)
    convincing_confidence: float = 0.85  # a reading whose digits average this, with few set aside, ends the looking
    aside_penalty: float = 0.5  # a set-aside candidate counts this much against a way of looking (score)
    line_overlap: float = 1 / 3  # of the smaller height: a digit overlapping a line this much vertically is on it
    word_gap: float = 0.3  # of a line's median height: marks closer than this are one word (a space is wider)...
    letter_like: tuple[int, ...] = (0, 1)  # ...and these digits in a word with a not-a-digit mark are letters (l, o)
    texture_pieces: int = 3  # a digit with this many pieces read as not a digit around it, within this many of
    texture_reach: float = 1.0  # its heights and at least this share of its height tall, one beside it and one
    texture_height: float = 0.4  # above or below it, and no digit beside it, is a blob of a texture (a carpet)
    texture_side_slack: float = 0.25  # (beside: level with it to this share of its height; above or below too)
    texture_scene: int = 40  # a picture with this many pieces read as no digit, and at least texture_scene_ratio
    texture_scene_ratio: float = 5.0  # ...times as many as its digits, is a textured surface: no digits
    repeat_count: int = 5  # a digit alone in its line, in a column of this many marks (itself, digits read the same
    repeat_column: float = 0.5  # ...alone in their lines, marks read as no digit; centres within this share of its
    repeat_size: float = 0.2  # ...width, heights within this share of its own) is a repeated mark: a spiral's loops
    repeat_no_digit: int = 1  # ...when at least this many of them are read as no digit (the same mark read both ways)
    repeat_spread: float = 0.2  # one piece whose ink rises and falls repeat_count + 1 times at even steps (this spread)
    repeat_tilt: float = 0.14  # ...a column of 1s looked for along a slant of up to this (a page turned 8 degrees)
    repeat_line_wander: float = 0.2  # a column of 1s alone in their lines on one straight line (to this share of a width)
    rescue_digit_share: float = 0.9  # a not-a-digit candidate in a line of digits is one when its digit is this clear,
    rescue_overlap: float = 0.5  # ...it overlaps this much of a digit's height vertically,
    rescue_height_ratio: float = 1.33  # ...is within this ratio of its height,
    rescue_small_ratio: float = 2.0  # ...or smaller, down to 1/this, standing on the line, if it reads as one
    small_digits: tuple[int, ...] = (0,)  # of these (a 0 written small)...
    small_stands: float = 0.75  # ...its bottom at least this far down a digit beside it (on the line, not raised)
    small_zero_ratio: float = 2.5  # a small mark (the finder's) read clearly as 0 joins a line down to 1/this of its height (0: never)
    rescue_neighbours: int = 2  # ...for at least this many digits
    rescue_passes: int = 2  # 2: passes until nothing more is rescued; 1: one pass, each judged by those rescued before it
    rescue_joined: int = 2  # two pieces joined, called not a digit, are rescued beside this many digits (0: never)
    rescue_scan_height: float = 0.6  # in a tiny scan (a crop around digits), one spanning this much of its height
    sharpen_rim: float = 0.3  # a not-a-digit candidate is read again with its ink under this share of full cut away;
    sharpen_not_a_digit: float = 0.5  # ...then under this P(not a digit), reading clearly, it is that digit
    hand_doubt: float = 0.9  # a digit read with a lower share (doubted)...
    hand_runner_up: float = 0.01  # ...between it and a runner-up with at least this share is read as the one of
    hand_sure: float = 0.9  # the two whose sure examples (this share) in its own line its strokes are more like...
    hand_margin: float = 0.02  # ...by this much (the cosine of their strokes' directions): writer consistency
    hand_rescue_likeness: float = 0.8  # a not-a-digit candidate in a line whose strokes are this like a sure digit of
    hand_rescue_margin: float = 0.1  # ...its best label on the page, by this more than any other label's (over 1: never),
    hand_rescue_share: float = 0.5  # ...and reads as that digit with this share of the ten, is that digit
    join_gap: float = 0.25  # a not-a-digit candidate and the one beside it this near (of the taller's height)...
    join_aspect: float = 1.0  # ...are read joined when no wider than this share of their height...
    join_confidence: float = 0.9  # ...and are one digit when read this surely (a 4 whose stem stands apart)
    join_mark_reach: float = 0.1  # a small mark this near a digit (of its height), within its height, is read joined
    join_mark_aspect: float = 1.5  # ...with it when no wider than this share of their height (a 5's long bar lifted off)
    split_min_aspect: float = 0.8  # a set-aside candidate at least this wide (of its height) may be touching
    # digits: it is cut at up to split_cuts columns (its thinnest, and evenly spaced)...
    split_cuts: int = 16
    split_cut_ink: float = 0.7  # ...where a column holds at most this share of the inkiest column's ink
    # (digits written overlapping touch in a thick place)...
    split_min_width: float = 0.1  # ...every stretch between two cuts this wide (of the height; a 1 is narrow)...
    split_max_width: float = 1.2  # ...to this wide is read...
    split_min_height: float = 0.75  # ...if its ink is at least this share of the candidate's height...
    split_confidence: float = 0.9  # ...and it is digits when every stretch of a way through is read this surely.
    split_whole_aspect: float = 1.0  # (one narrower than this that the in-line rescue takes as the digit it reads is not cut)
    split_read_aspect: float = 1.0  # One the model reads surely as one digit (a "10" read as 0) at least this
    split_pair_middle: float = 0.3  # wide is cut in two, no nearer either end than this share of its width,
    split_read_confidence: float = 0.99  # where both halves are clear digits (this sure which digit and under
    split_read_not_a_digit: float = 0.1  # this P(not a digit)) read more surely than the whole.
    faint_share: float = 0.5  # a piece beside digits that reads as no digit, or a digit much shorter than its line's,
    # is looked at again with the fainter ink around it, above this share of the stroke threshold
    faint_reach: float = 1 / 3  # ...within this share of its line's digit height on either side...
    faint_line_gap: float = 3.0  # ...(its line: digits overlapping its height, this many of their heights away at most)
    faint_short: float = 0.75  # (a digit shorter than this share of its line's median height is looked at again)
    faint_more_ink: float = 1.2  # ...when that adds ink (this many times its own pixels)...
    faint_full: float = 0.75  # ...each stroke full ink from this share of its own ridge's strength (a 5x5 maximum)...
    faint_end: float = 1.25  # a line of digits is looked along this many of their spacings beyond each end for a digit
    # written too lightly to leave a piece at all (its fainter ink's piece as tall as faint_short of theirs)...
    faint_end_apart: float = 0.1  # ...from this share of their height clear of the end digit (its own faint rim)...
    faint_end_tall: float = 1.2  # ...and no taller than this many of their heights (a form's box wall is taller)
    faint_grow: float = 1.25  # ...and it becomes a digit read surely (join_confidence); a short digit only when it
    # grows this much taller
    deskew_min_deg: float = 20.0  # candidates in one straight line sloping at least this much (a number written,
    deskew_max_deg: float = 65.0  # ...or photographed, on a slant; steeper is a column of digits, not a line)...
    deskew_spread: float = 0.35  # ...their centres within this share of the median height of the line...
    deskew_min_count: int = 3  # ...and at least this many: each is turned upright and read again, and that
    deskew_tolerance: float = 0.1  # reading wins unless it scores lower by this much per digit (it orders one line)


def to_grey(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image if image.dtype == np.uint8 else cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def undithered(grey: np.ndarray, settings: FinderSettings = FinderSettings()) -> np.ndarray:
    """`grey` with its dots blurred back into greys when it is a dithered picture of two levels
    (a fax, a scanner's halftone mode, PIL's `convert("1")`): read as it is, the finder sees each
    dot as a piece and the strokes break apart (the shared photos dithered by error diffusion: 13 of
    67 read right; blurred: 56). A picture of clean strokes on plain paper in two levels (thresholded) has few dots
    and stays as it is. Cheap for a photo: a sample of its pixels shows more than two levels."""
    if min(grey.shape) < settings.dither_min_side:
        return grey
    sample = grey[::7, ::7]  # (not a multiple of a dither's period: every place in its pattern is sampled)
    low, high = int(sample.min()), int(sample.max())
    if np.count_nonzero((sample != low) & (sample != high)) > (1 - settings.dither_levels) * sample.size:
        return grey
    low, high = int(grey.min()), int(grey.max())
    dark = (grey == low).astype(np.uint8) * 255
    if low == high or np.count_nonzero(dark) + np.count_nonzero(grey == high) < settings.dither_levels * grey.size:
        return grey
    if np.count_nonzero(cv2.medianBlur(dark, 3) != dark) < settings.dither_dots * grey.size:
        return grey
    return cv2.GaussianBlur(grey, (0, 0), settings.dither_sigma)


def percentiles_u8(values: np.ndarray, qs: tuple[float, ...]) -> np.ndarray:
    """Percentiles of uint8 values from their histogram: many times faster than np.percentile (and
    OpenCV's histogram twice as fast as numpy's on a whole picture, slower on a few values)."""
    if values.size > 4096:
        counts = cv2.calcHist([np.ascontiguousarray(values).reshape(-1, 1)], [0], None, [256], [0, 256]).ravel()
        cumulative = counts.astype(np.int64).cumsum()
    else:
        cumulative = np.bincount(values.ravel(), minlength=256).cumsum()
    return np.searchsorted(cumulative, np.asarray(qs) / 100.0 * (cumulative[-1] - 1), side="right").astype(np.float64)


def dark_ink_guess(grey: np.ndarray) -> bool:
    """Ink is a minority of the picture, darker (or lighter) than the paper around it: dark ink
    when the picture's departures from its local mean lean dark (their skew is negative). Local,
    so a lighting gradient or a shadow over half the page does not sway it (the picture's median
    against its range, the rule before, did: 35 of 67 real photos under a shadow guessed right).
    Only a first guess: the reader tries the other polarity when this one reads poorly (a white
    sheet on a dark desk is itself the bright minority)."""
    half = grey[::2, ::2]
    side = max(7, (min(half.shape) // 8) | 1)
    departure = half.astype(np.float32) - cv2.blur(half, (side, side))
    return bool(np.mean(departure * departure * departure) <= 0)


def ink_image(grey: np.ndarray, dark_ink: bool | None = None,
              settings: FinderSettings = FinderSettings()) -> tuple[np.ndarray, np.ndarray]:
    """(ink strength uint8, local noise level float32): the paper, lit unevenly, removed; ink
    bright whatever its polarity.

    `dark_ink` says the polarity (None: `dark_ink_guess`). The paper is estimated
    by a morphological closing (opening for light ink) much wider than a stroke, on a small
    copy for speed: it erases strokes however much of the picture they cover (a median filter
    fails on bold close-ups) and keeps lighting gradients and a desk beside the sheet.
    """
    h, w = grey.shape
    if dark_ink is None:
        dark_ink = dark_ink_guess(grey)
    small_scale = settings.paper_side / min(h, w)
    small = cv2.resize(grey, (max(1, round(w * small_scale)), max(1, round(h * small_scale))), interpolation=cv2.INTER_AREA)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (settings.paper_kernel,) * 2)
    paper_small = cv2.morphologyEx(small, cv2.MORPH_CLOSE if dark_ink else cv2.MORPH_OPEN, kernel, borderType=cv2.BORDER_REPLICATE)
    paper_small = cv2.blur(paper_small, (settings.paper_blur,) * 2)
    paper = cv2.resize(paper_small, (w, h), interpolation=cv2.INTER_LINEAR)
    # Noise, neighbourhood by neighbourhood: a desk's texture beside the sheet is far noisier than
    # the paper, and one floor for both would erase the pen strokes. Measured on the picture's
    # finest detail (its departure from a 3x3 blur: 0.75 sigma on average for pixel noise),
    # averaged per small cell, then the median over neighbouring cells: strokes add detail only
    # along their edges, a minority of any neighbourhood, even in a close-up of one bold digit.
    detail = cv2.absdiff(grey, cv2.blur(grey, (3, 3)))
    cell = settings.noise_cell
    cells = (max(1, w // cell), max(1, h // cell))
    local = cv2.medianBlur(cv2.resize(detail, cells, interpolation=cv2.INTER_AREA), settings.noise_cells)
    local = local.astype(np.float32) / settings.detail_per_sigma + 1.0
    ink = cv2.subtract(paper, grey) if dark_ink else cv2.subtract(grey, paper)  # saturating at 0
    if settings.step_kernel_share:
        side = 2 * int(settings.step_kernel_share * settings.paper_kernel / small_scale / 2) + 1
        floor = np.maximum(settings.noise_floor_sigmas * cv2.resize(local, (w, h), interpolation=cv2.INTER_LINEAR),
                           settings.min_floor)
        if not cv2.erode((ink > floor).astype(np.uint8), _ones((side, side))).any():
            paper = _paper_at_steps(grey, paper, dark_ink, side)  # (no ink as wide as it: not a bold close-up)
            ink = cv2.subtract(paper, grey) if dark_ink else cv2.subtract(grey, paper)
    reference = float(percentiles_u8(paper_small, (settings.lit_paper,))[0]) if dark_ink and settings.relative_ink else 0.0
    if reference > settings.min_paper:
        # ink * reference / paper, with the paper held between its darkest allowed level and the reference
        lit = cv2.min(cv2.max(paper, max(settings.min_paper, reference / settings.max_gain)), reference)
        ink = cv2.divide(ink, lit, scale=reference)
        local *= reference / cv2.resize(lit, cells, interpolation=cv2.INTER_AREA).astype(np.float32)
    noise = cv2.resize(local, (w, h), interpolation=cv2.INTER_LINEAR)
    return ink, noise


def _paper_at_steps(grey: np.ndarray, paper: np.ndarray, dark_ink: bool, side: int) -> np.ndarray:
    """`paper` (the coarse estimate) following hard steps of the lighting: the edge of a phone's
    shadow, the rim of a desk. The coarse estimate, made on a small copy, blurs such a step over
    several pixels, and on its dark side the paper then looks darker than its estimate: a band of
    false ink along the whole edge, which joins every digit it crosses. A closing `side` pixels
    wide at full size erases strokes narrower than that but keeps any straight step whatever its
    width; it is taken where it is darker than the coarse estimate (lighter, for light ink)."""
    fine = cv2.morphologyEx(grey, cv2.MORPH_CLOSE if dark_ink else cv2.MORPH_OPEN, _ones((side, side)),
                            borderType=cv2.BORDER_REPLICATE)
    return cv2.min(paper, fine) if dark_ink else cv2.max(paper, fine)


def find_candidates(grey: np.ndarray, settings: FinderSettings = FinderSettings(),
                    photo_edges: Edges | None = None, dark_ink: bool | None = None,
                    stages: dict | None = None, marks: list[Candidate] | None = None) -> list[Candidate]:
    """Digit-sized groups of ink in a working-size grey image, each with its own ink crop.

    `photo_edges` is where the photo's own edges are, when it has been padded (a close-up).
    `stages`, when given, receives the intermediate images (for --debug): "grey", "ink", "mask", "desk"
    (ink set aside as not on the paper: a desk, plain or textured, a shadow beside the sheet), and
    "least_ink", the least departure from the paper taken as ink (grey levels, before the noise floor);
    the maps "floor" (the noise floor) and "threshold" (the stroke threshold), for faint_strokes; and
    "lines", the ruled lines' pixels taken out of the mask and the printed boxes' walls, whole
    (uint8 0/1; None: none).
    `marks`, when given, receives what was set aside by its shape alone, with `mark` saying why: marks
    at least as big as the smallest digit but under half the digits' height, and long thin lines that
    do not run to the picture's border (a pen, a ruler). Specks, the desk, shadows' edges, ruled lines
    and the sheet's own edges are not marks."""
    h, w = grey.shape
    if dark_ink is None:
        dark_ink = dark_ink_guess(grey)
    ink, noise = ink_image(grey, dark_ink, settings)
    # The least departure from the paper that is ink: min_floor grey levels, but in a picture of low
    # contrast (faint pencil, half-lit, a dim webcam: its strongest ink only 20-50 levels from the
    # paper) a share of its strongest ink, or its strokes fall under the floor and it reads nothing.
    strongest = float(percentiles_u8(ink, (settings.strongest_ink,))[0])
    min_floor = float(np.clip(settings.min_floor_of_strongest * strongest, settings.lowest_floor, settings.min_floor))
    floor = np.maximum(settings.noise_floor_sigmas * noise, min_floor)
    # Pass 1: everything above the noise floor; what is not on the paper (the desk, a shadow
    # at the edge) is set aside before the stroke threshold is chosen, or it would dominate it.
    above = ink > floor
    edges = photo_edges or (0, 0, w, h)
    # In a padded close-up, only a ring around the whole photo is the desk: its strokes may hug an edge.
    along = settings.closeup_desk_edge_share if photo_edges else settings.desk_edge_share
    writing = above
    if _edge_share(above, edges) > along:  # (else no piece can be: no labelling)
        count, labels, _, _ = _pieces(above.view(np.uint8))
        is_background = _background(labels, count, edges, along)
        if is_background.any():
            writing = above & ~is_background[labels]
    writing = _without_textured_desk(writing, edges, along, settings)
    if not writing.any():
        if stages is not None:
            stages.update(grey=grey, ink=ink, mask=np.zeros_like(writing), least_ink=min_floor, desk=above)
        return []
    otsu, _ = cv2.threshold(ink[writing].reshape(-1, 1), 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    threshold = np.maximum(otsu * settings.stroke_of_otsu, floor)
    faint = (ink > settings.rule_floor * floor).astype(np.uint8)  # printed lines are whole in it
    mask, lines = _without_rules(writing & (ink > threshold), faint, _box_outlines(faint, settings), settings)
    if stages is not None:
        stages.update(grey=grey, ink=ink, mask=mask, least_ink=min_floor, floor=floor, threshold=threshold,
                      desk=above & ~writing, lines=lines)
    # Pass 2: the strokes.
    count, labels, stats, _ = _pieces(mask.astype(np.uint8))

    short_side = min(h, w)
    pieces: list[list[int]] = []  # [x0, y0, x1, y1, label...]
    lines: list[list[int]] = []  # long thin pieces inside the picture: marks, or thin 1s
    for i in range(1, count):
        x, y, bw, bh, area = map(int, stats[i])  # (Python ints: numpy scalars are slow to compute with)
        if area < settings.min_piece_area:
            continue
        long_side, short = max(bw, bh), max(min(bw, bh), 1)
        if long_side >= settings.hairline * short or long_side >= settings.long_line * short and (
                bw >= settings.long_line_span * w or bh >= settings.long_line_span * h):
            # A hairline, or a line across much of the picture: a paper edge or a ruled line. One
            # that stays inside the picture may be a thing on the page (a pen): a mark.
            if long_side >= settings.min_height_frac * short_side and not _at_border((x, y, x + bw, y + bh), edges):
                lines.append([x, y, x + bw, y + bh, i])
            continue
        if area < settings.outline_fill * bw * bh and long_side >= settings.outline_extent * max(w, h):
            continue  # a thin outline around much of the picture: a sheet's edge, a frame, a box
        if photo_edges is not None and _along_edges((x, y, bw, bh), photo_edges, settings):
            continue  # the step from the photo's own border to the padding around it, not a stroke
        pieces.append([x, y, x + bw, y + bh, i])

    def merged(found: list[list[int]]) -> list[list[int]]:  # pieces of one digit joined; too short ones dropped
        return [g for g in _merge_pieces(found, settings) if g[3] - g[1] >= settings.min_height_frac * short_side]

    groups = merged(pieces)
    if groups and lines:
        # A hairline as tall as the digits, upright, inside the picture, is a 1 written with a fine
        # pen (held upright, 20 times taller than thick): it joins the pieces. As tall as the digits'
        # median height, or as a piece beside it in its line (specks and blots elsewhere on the page
        # pull the median far below the digits').
        median_h = median_of([g[3] - g[1] for g in groups])
        thin_ones = [g for g in lines if g[3] - g[1] > g[2] - g[0] and (
            1 / settings.thin_one_height <= (g[3] - g[1]) / median_h <= settings.thin_one_height
            or any(_beside_in_line(g, group, settings.thin_one_height) for group in groups))]
        if thin_ones:
            lines = [g for g in lines if g not in thin_ones]
            groups = merged(pieces + thin_ones)
    small: list[list[int]] = []
    if groups:
        median_h = median_of([g[3] - g[1] for g in groups])
        small = [g for g in groups if g[3] - g[1] < settings.min_relative_height * median_h
                 and not _at_border(g, edges)]  # at the border: the picture's
        groups = [g for g in groups if g[3] - g[1] >= settings.min_relative_height * median_h and not (
            g[3] - g[1] > settings.edge_relative_height * median_h and _straight(labels, g, settings.edge_straight))]
        # Cut by the picture's border: a sliver (a line or the paper's edge seen at the border) or a
        # piece much taller than the digits (an edge running down the picture) is not a digit.
        # A printed line at a turned page's edge enters the picture on a slant: a straight bar at the
        # border, along it, is one too.
        groups = [g for g in groups
                  if not _at_border(g, edges)
                  or (g[2] - g[0] > settings.border_sliver and g[3] - g[1] <= settings.border_max_height * median_h
                      and not _bar_along_border(labels, g, edges, settings))]

    candidates = []
    marked = [(g, None) for g in groups]
    if marks is not None:
        marked += [(g, MARK_SMALL) for g in small] + [(g, MARK_LINE) for g in lines]
    for (x0, y0, x1, y1, *members), mark in marked:
        box_labels = labels[y0:y1, x0:x1]
        member = np.zeros(count, bool)
        member[members] = True
        in_box = member[box_labels]
        keep = cv2.dilate(in_box.view(np.uint8), _ones((3, 3)))  # keep the soft anti-aliased rim of each stroke
        box_ink = ink[y0:y1, x0:x1]
        strokes = box_ink[in_box]
        if strokes.size == 0:
            continue
        # (the floor's median only where its maximum leaves the question open: most pieces are clear)
        peak, floor_box = int(strokes.max()), floor[y0:y1, x0:x1]
        if peak < settings.min_peak_over_floor * float(floor_box.max()) \
                and peak < settings.min_peak_over_floor * _quantile(floor_box.ravel(), 0.5):
            continue
        if _shadow_side(grey, labels, in_box, (x0, y0, x1, y1), dark_ink, settings, settings.shadow_side) > settings.shadow_side:
            continue  # the edge of a shadow or of a dark object: dark beyond it, not paper
        crop = box_ink.astype(np.float32) * keep
        # Ink at or above the stroke's typical strength is full ink, as in MNIST; fainter edges fade out.
        full = float(percentiles_u8(strokes, (75,))[0])
        low = _quantile(threshold[y0:y1, x0:x1].ravel(), 0.5) * settings.soft_rim_of_threshold
        soft = _soft_ink(crop, low, full)
        candidate = Candidate((x0, y0, x1 - x0, y1 - y0), soft, mark=mark)
        if mark is None:
            candidates.append(candidate)
        else:
            marks.append(candidate)
    return _with_frames(candidates, settings)


def faint_strokes(stages: dict, piece: Candidate, window: tuple[int, int, int, int], others: list[WorkBox],
                  settings: FinderSettings = FinderSettings()) -> Candidate | None:
    """`piece` (a candidate of the look whose `stages` find_candidates filled) with the fainter ink
    around it: the ink within `window` (x0, y0, x1, y1) above settings.faint_share of the stroke
    threshold (never under the noise floor) that connects to the piece, outside `others` (the other
    candidates' boxes). A stroke drawn lightly (a pen skipping, a pencil's light pressure, a part of
    the page in a shadow or a gradient) falls under the threshold that the picture's strong strokes
    set, and its digit breaks into a piece that reads as no digit or as another. Each stroke's ink is
    scaled to its own ridge's strength, so a faint stroke is full ink, as the strong ones are. None:
    it gains no ink."""
    found = _fainter(stages, window, others, settings)
    if found is None:
        return None
    fainter, area, lowered, x0, y0 = found
    px, py, pw, ph = piece.work_box
    strokes = np.zeros(fainter.shape, bool)
    strokes[py - y0:py - y0 + ph, px - x0:px - x0 + pw] = piece.ink > 0
    count, labels, _, _ = _pieces(fainter)
    member = np.zeros(count, bool)
    member[labels[strokes & (fainter > 0)]] = True
    member[0] = False
    keep = member[labels]
    if np.count_nonzero(keep) <= settings.faint_more_ink * np.count_nonzero(strokes):
        return None
    return _faint_candidate(keep, area, lowered, x0, y0, settings)


def faint_digit(stages: dict, window: tuple[int, int, int, int], others: list[WorkBox], settings: FinderSettings,
                min_height: int, max_height: int) -> Candidate | None:
    """A digit written too lightly to leave a piece at all (beyond a line's end): the fainter ink (as
    in faint_strokes) within `window`, outside `others`, the ruled lines and printed boxes (with their
    rims) and the desk, in pieces `min_height` to `max_height` tall that lie inside the window's
    height and are not cut by the picture's side (a line or an edge there). None: no such piece."""
    found = _fainter(stages, window, others, settings)
    if found is None:
        return None
    fainter, area, lowered, x0, y0 = found
    if stages.get("lines") is not None:  # (a ruled or squared page's lines, and their rims, are no strokes)
        fainter &= ~cv2.dilate(stages["lines"][y0:y0 + fainter.shape[0], x0:x0 + fainter.shape[1]], _ones((3, 3)))
    if stages.get("desk") is not None:  # (nor a desk's specks beside the sheet)
        fainter[stages["desk"][y0:y0 + fainter.shape[0], x0:x0 + fainter.shape[1]]] = 0
    if np.count_nonzero(fainter) < min_height:
        return None  # (no piece that tall: most windows beyond a line's ends are paper)
    count, labels, stats, _ = _pieces(fainter)
    tops, heights = stats[:, cv2.CC_STAT_TOP], stats[:, cv2.CC_STAT_HEIGHT]
    lefts, rights = x0 + stats[:, cv2.CC_STAT_LEFT], x0 + stats[:, cv2.CC_STAT_LEFT] + stats[:, cv2.CC_STAT_WIDTH]
    member = ((heights >= min_height) & (heights <= max_height) & (tops > 0) & (tops + heights < fainter.shape[0])
              & (lefts > 0) & (rights < stages["ink"].shape[1]))
    member[0] = False
    keep = member[labels]
    if not keep.any():
        return None
    return _faint_candidate(keep, area, lowered, x0, y0, settings)


def _fainter(stages: dict, window: tuple[int, int, int, int], others: list[WorkBox], settings: FinderSettings):
    """(fainter ink uint8 0/1, ink, lowered threshold, x0, y0) within `window` clipped to the picture,
    the boxes `others` blanked; None where the window holds no pixel."""
    ink, floor, threshold = stages["ink"], stages["floor"], stages["threshold"]
    h, w = ink.shape
    x0, y0, x1, y1 = max(0, window[0]), max(0, window[1]), min(w, window[2]), min(h, window[3])
    if x1 <= x0 or y1 <= y0:
        return None
    lowered = np.maximum(settings.faint_share * threshold[y0:y1, x0:x1], floor[y0:y1, x0:x1])
    area = ink[y0:y1, x0:x1]
    fainter = (area > lowered).astype(np.uint8)
    for ox, oy, ow, oh in others:
        fainter[max(0, oy - y0):max(0, oy + oh - y0), max(0, ox - x0):max(0, ox + ow - x0)] = 0
    return fainter, area, lowered, x0, y0


def _faint_candidate(keep: np.ndarray, area: np.ndarray, lowered: np.ndarray, x0: int, y0: int,
                     settings: FinderSettings) -> Candidate:
    """The candidate of the fainter ink `keep` (a bool map over the window at x0, y0 whose ink is
    `area`), each stroke full ink from settings.faint_full of its own ridge's strength."""
    ys, xs = np.nonzero(keep)
    bx0, by0, bx1, by1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
    keep = cv2.dilate(keep[by0:by1, bx0:bx1].astype(np.uint8), _ones((3, 3)))  # the strokes' soft rims
    crop = area[by0:by1, bx0:bx1].astype(np.float32) * keep
    low = _quantile(lowered[by0:by1, bx0:bx1].ravel(), 0.5) * settings.soft_rim_of_threshold
    full = np.minimum(settings.faint_full * cv2.dilate(crop, _ones((5, 5))),
                      float(percentiles_u8(area[by0:by1, bx0:bx1][keep > 0], (75,))[0]))
    return Candidate((x0 + bx0, y0 + by0, bx1 - bx0, by1 - by0), _soft_ink(crop, low, full))


@functools.lru_cache(maxsize=64)
def _ones(shape: tuple[int, int]) -> np.ndarray:
    """A rectangular kernel of ones (uint8) for OpenCV's morphology, made once per shape and shared
    read-only: a frame asks for dozens of them, in a few shapes."""
    kernel = np.ones(shape, np.uint8)
    kernel.setflags(write=False)
    return kernel


def _soft_ink(crop: np.ndarray, low: float, full) -> np.ndarray:
    """Ink from `low` (the soft rim's floor: 0) to `full` (a number, or one per pixel: 1), as MNIST's
    strokes are full white with soft edges. (np.clip's values, without its overhead: a sheet has
    hundreds of candidates.)"""
    return np.minimum(np.maximum((crop - low) / np.maximum(full - low, 1.0), 0.0), 1.0)


def _beside_in_line(hairline: list[int], group: list[int], ratio: float) -> bool:
    """Whether `group` stands beside the upright `hairline` in one line of writing (boxes x0, y0, x1,
    y1, ...): as tall within `ratio`, over at least half the shorter one's height, at most the taller
    one's height away."""
    lh, gh = hairline[3] - hairline[1], group[3] - group[1]
    overlap = min(hairline[3], group[3]) - max(hairline[1], group[1])
    gap = max(group[0] - hairline[2], hairline[0] - group[2])
    return 1 / ratio <= lh / max(gh, 1) <= ratio and overlap >= 0.5 * min(lh, gh) and gap <= max(lh, gh)


def _at_border(box: list[int] | Edges, edges: Edges) -> bool:
    """Whether a box (x0, y0, x1, y1, ...) reaches the photo's edges (x0, y0, x1, y1)."""
    return box[0] <= edges[0] or box[1] <= edges[1] or box[2] >= edges[2] or box[3] >= edges[3]


def _axes(labels: np.ndarray, group: list[int]) -> tuple[float, float, float] | None:
    """(spread along, spread across, degrees of the main axis from level, 0-90) of a group's pixels,
    from their second moments (None: no pixels)."""
    x0, y0, x1, y1, *members = group
    inside = np.isin(labels[y0:y1, x0:x1], members).astype(np.uint8)
    m = cv2.moments(inside, binaryImage=True)
    if m["m00"] == 0:
        return None
    a, b, c = m["mu20"], m["mu11"], m["mu02"]
    root = np.sqrt(((a - c) / 2) ** 2 + b * b)
    return (a + c) / 2 + root, (a + c) / 2 - root, abs(float(np.degrees(0.5 * np.arctan2(2 * b, a - c))))


def _straight(labels: np.ndarray, group: list[int], most: float) -> bool:
    """Whether a group's ink lies along one straight line: its spread across the line (the minor
    axis of its pixels' moments) is under `most` of its spread along it."""
    axes = _axes(labels, group)
    return axes is not None and bool(axes[1] <= most * most * axes[0])


def _bar_along_border(labels: np.ndarray, group: list[int], edges: Edges, settings: FinderSettings) -> bool:
    """Whether a group at the picture's border is one straight bar (the band with its pixels'
    spread, L^2 / 12 along and t^2 / 12 across, at least `border_bar` times longer than wide)
    running within `border_bar_deg` of a border it reaches."""
    axes = _axes(labels, group)
    if axes is None:
        return False
    along, across, angle = axes
    if across * settings.border_bar ** 2 > along:
        return False
    upright = group[0] <= edges[0] or group[2] >= edges[2]
    level = group[1] <= edges[1] or group[3] >= edges[3]
    return bool(upright and angle >= 90 - settings.border_bar_deg or level and angle <= settings.border_bar_deg)


def _pieces(binary: np.ndarray) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """8-connected pieces of a uint8 mask: (count, labels, stats, centroids), as
    cv2.connectedComponentsWithStats gives them. Grana's algorithm: its statistics cost a quarter
    of the default's (0.12 vs 0.47 ms on an empty 320x240 mask, one thread)."""
    return cv2.connectedComponentsWithStatsWithAlgorithm(binary, 8, cv2.CV_32S, cv2.CCL_GRANA)


def _with_frames(candidates: list[Candidate], settings: FinderSettings) -> list[Candidate]:
    """`candidates`, those whose strokes enclose another candidate marked as frames: a circle drawn
    around a number, a box on a form, a face's outline around its eyes. A digit's loop holds no
    other mark (a stray speck inside it is too small to be a candidate). A much smaller mark within
    a candidate's box but in none of its holes is a piece of its strokes (a stroke broken by the
    pen's shine or a faint join, or a mark crossing it): it joins that candidate's ink."""
    if len(candidates) < 2:
        return candidates
    boxes = np.array([c.work_box for c in candidates], np.int64)
    x0, y0 = boxes[:, 0], boxes[:, 1]
    x1, y1 = x0 + boxes[:, 2], y0 + boxes[:, 3]
    # inside[i, j]: j's box lies within i's box
    inside = (x0[:, None] < x0[None]) & (y0[:, None] < y0[None]) & (x1[:, None] > x1[None]) & (y1[:, None] > y1[None])
    marked = list(candidates)
    pieces_of: dict[int, list[int]] = {}  # container (never a frame) -> the marks that join it
    framed: set[int] = set()  # marks in a frame's hole stay marks of their own
    for i, candidate in enumerate(candidates):
        if not inside[i].any():
            continue
        strokes = np.pad((candidate.ink > 0).astype(np.uint8), 1)
        outside = strokes.copy()
        cv2.floodFill(outside, None, (0, 0), 1)  # paper reachable from beyond the box: not a hole
        holes = outside == 0
        within = np.flatnonzero(inside[i])
        if any(holes[int(y0[j] + boxes[j, 3] // 2 - y0[i]) + 1, int(x0[j] + boxes[j, 2] // 2 - x0[i]) + 1] for j in within):
            marked[i] = replace(candidate, frame=True)
            framed.update(int(j) for j in within)
            continue
        for j in within:
            if boxes[j, 3] <= settings.piece_within * boxes[i, 3]:
                pieces_of.setdefault(i, []).append(int(j))
    joined: set[int] = set()
    for i in sorted(pieces_of, key=lambda i: -boxes[i, 3]):  # the largest container takes a mark first
        if i in joined:  # itself a piece of a larger one, which took its marks too (they lie within both)
            continue
        ink = marked[i].ink.copy()
        for j in pieces_of[i]:
            if j in framed or j in joined:
                continue
            top, left = int(y0[j] - y0[i]), int(x0[j] - x0[i])
            region = ink[top : top + boxes[j, 3], left : left + boxes[j, 2]]
            np.maximum(region, candidates[j].ink, out=region)
            joined.add(j)
        marked[i] = replace(marked[i], ink=ink)
    return [c for k, c in enumerate(marked) if k not in joined]


def _shadow_side(grey: np.ndarray, labels: np.ndarray, in_box: np.ndarray, box: Edges, dark_ink: bool,
                 settings: FinderSettings = FinderSettings(), limit: float | None = None) -> float:
    """The share of a ring of pixels around a piece's strokes that is as dark as the strokes near it
    (with `limit`, where the share is clearly at most that: a bound on it, itself at most `limit`).

    A pen stroke has paper on both sides: its ring is paper, lighter than the stroke (bar where
    another stroke or a line crosses it). A shadow's edge, or the rim of a dark object, is a
    step: on one side of it lies the shadow, as dark as the "stroke" or darker, so about half its
    ring is. The ring starts beyond the stroke's blurred rim and is about a stroke wide. `in_box`:
    the piece's own pixels within its `box` (bool), `labels`: every piece's (0: none)."""
    x0, y0, x1, y1 = box
    h, w = grey.shape
    strokes = in_box.view(np.uint8)
    # padded: the box's edge is outside
    inside = cv2.distanceTransform(cv2.copyMakeBorder(strokes, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0), cv2.DIST_L2, 3)
    width = min(max(round(2 * cv2.minMaxLoc(inside)[1]), 2), 24)  # (np.clip on one number costs 15 us)
    pad = 2 + width + 1
    X0, Y0, X1, Y1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)
    local = np.zeros((Y1 - Y0, X1 - X0), np.uint8)
    local[y0 - Y0 : y1 - Y0, x0 - X0 : x1 - X0] = strokes
    near = cv2.dilate(local, _ones((5, 5)))
    ring = cv2.dilate(local, _ones((2 * (2 + width) + 1,) * 2))
    in_ring = (ring > near) & (labels[Y0:Y1, X0:X1] == 0)  # (both 0 or 1)
    patch = grey[Y0:Y1, X0:X1]
    if not dark_ink:
        patch = 255 - patch
    around = patch[in_ring]
    if around.size < 10:
        return 0.0
    stroke_pixels = patch[y0 - Y0 : y1 - Y0, x0 - X0 : x1 - X0][strokes.view(bool)]
    paper = _quantile(around, 0.9)
    # Most pieces are strokes on paper: even the darkest that could count (as dark as the lightest
    # stroke pixel, the most any mean of the strokes can be) leaves too little of the ring to be a
    # shadow's side. That bound is the answer then: it decides the same, without the local means.
    lightest = float(stroke_pixels.max())
    bound = min(lightest + settings.shadow_level * (paper - lightest), lightest * (1 + settings.shadow_ratio)) + 0.01
    at_most = np.count_nonzero(around < bound) / around.size
    if limit is not None and at_most <= limit:
        return at_most
    stroke_level = _quantile(stroke_pixels, 0.5)
    if paper - stroke_level < settings.shadow_min_contrast:
        return 0.0
    # "As dark as the strokes" near each ring pixel: the mean of the strokes within the ring's reach.
    # A stroke that runs from the light into a shadow is darker in the shadow, as its paper is there;
    # against the strokes' median (one level for the piece) the shadowed paper beside it counted.
    reach = (2 * (2 + width) + 1,) * 2  # every ring pixel has strokes within it
    summed = cv2.boxFilter(patch * local, cv2.CV_32F, reach, normalize=False)[in_ring]
    level = summed / cv2.boxFilter(local, cv2.CV_32F, reach, normalize=False)[in_ring]
    dark = np.minimum(level + settings.shadow_level * (paper - level), level * (1 + settings.shadow_ratio))
    return np.count_nonzero(around < dark) / around.size


def median_of(values: Sequence[float]) -> float:
    """np.median of a short list of Python numbers, the same value at a fortieth of its cost (0.3 vs 11
    us for six heights; a list of boxes' heights is taken a median of several times a picture)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return float(ordered[middle]) if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def percentile_of(values: Sequence[float], q: float) -> float:
    """np.percentile(values, q) of a short list of Python numbers (linear interpolation, computed as
    numpy computes it, so the same float), without its overhead."""
    ordered = sorted(values)
    at = (len(ordered) - 1) * (q / 100)
    low = int(at)
    high = min(low + 1, len(ordered) - 1)
    a, b, t = ordered[low], ordered[high], at - low
    return float(b - (b - a) * (1 - t)) if t >= 0.5 else float(a + (b - a) * t)


def _quantile(values: np.ndarray, q: float) -> float:
    """np.quantile(values, q) (linear interpolation) of a 1-D array, without its overhead: it runs
    several times for every piece of every picture. (percentiles_u8 is faster still but takes the
    lower of two middle values and uint8 only; these are the values np.median gave, floats too.)"""
    at = q * (values.size - 1)
    low = int(at)
    high = min(low + 1, values.size - 1)
    part = np.partition(values, (low, high))
    return float(part[low]) + (at - low) * (float(part[high]) - float(part[low]))


def _along_edges(box: WorkBox, photo_edges: Edges, settings: FinderSettings) -> bool:
    """A thin piece lying on one of the photo's own edges inside its padding (a close-up view)."""
    x, y, w, h = box
    x0, y0, x1, y1 = photo_edges
    reach, thin = settings.edge_reach, settings.edge_thin
    vertical = w <= thin and (abs(x - x0) <= reach or abs(x + w - x1) <= reach)
    horizontal = h <= thin and (abs(y - y0) <= reach or abs(y + h - y1) <= reach)
    return vertical or horizontal


def _without_rules(mask: np.ndarray, faint: np.ndarray, boxes: np.ndarray,
                   settings: FinderSettings) -> tuple[np.ndarray, np.ndarray | None]:
    """(`mask` without the thin straight lines that run much longer than a digit is wide, those lines'
    pixels with the `boxes`' walls whole (uint8 0/1; None: none found)). Such lines (ruled and squared
    paper, a table's lines): digits written across them would otherwise be joined into one piece, and
    a grid's crossings left behind read as 1s, 7s and 4s. Where a stroke crosses a
    line its pixels stay; a thick bar (a close-up's 7) is not thin and stays.

    The lines are looked for in `faint` (ink above a low floor, uint8 0/1), where a printed line is nearly
    whole; at the stroke threshold it is often dashes. A stretch of settings.rule_length is a line
    when settings.rule_cover of it is ink, allowing settings.rule_tilt pixels of drift across it
    (a page photographed at a slight tilt steps from one row to the next): a digit's bar is
    shorter than the stretch, and noise covers far less of it. `boxes` (_box_outlines: boxes
    printed around digits) go as the lines do."""
    h, w = mask.shape
    binary = mask.astype(np.uint8)
    length = max(settings.min_rule_length, int(max(w, h) * settings.rule_length))
    found = []  # per direction: (horizontal, its lines' thin pixels, the stretches they run along)
    for horizontal in (True, False):
        across = (2 * settings.rule_tilt + 1, 1) if horizontal else (1, 2 * settings.rule_tilt + 1)
        bar_across = (settings.rule_thickness + 1, 1) if horizontal else (1, settings.rule_thickness + 1)
        # Only ink thin across the direction can be a rule: strokes crossing it, bold strokes, are not.
        thin = faint & ~cv2.morphologyEx(faint, cv2.MORPH_OPEN, _ones(bar_across))
        widened = cv2.dilate(thin, _ones(across))
        covered = _covered_rows(widened if horizontal else widened.T, length, settings.rule_cover * length)
        # Lines found at a slope replace the level ones (a turned page's lines cover level rows in pieces).
        band = _tilted_band(thin, faint, horizontal, length, settings)
        if band is None and covered.any():
            # A printed line runs across the page: found along one stretch, it is followed across
            # the whole picture, through the digits crowded on it (there too little of it is thin
            # ink for a stretch of it to be found, and its pieces between them joined the digits).
            band = np.zeros_like(thin)
            if horizontal:
                band[covered] = 1
            else:
                band[:, covered] = 1
        if band is not None:
            found.append((horizontal, band & thin, band))
    lines = boxes & binary
    if found:
        # Ink beyond a line's end that lies on no line (a grid's crossings lie on the lines across).
        off_lines = binary & ~np.bitwise_or.reduce([band for *_, band in found])
        for horizontal, thin_lines, _ in found:
            lines |= _drop_drawn(thin_lines, off_lines, horizontal, length, settings)
    if not lines.any():
        return mask, (boxes if boxes.any() else None)
    kept = binary & ~lines
    # Where a stroke crosses a line, keep the line's pixels between the stroke's two sides
    # (above and below a horizontal line, left and right of a vertical one); where two lines
    # cross (a grid) neither side is a stroke and nothing comes back.
    span = settings.rule_thickness + 2
    for across in ((span, 1), (1, span)):
        kept |= lines & binary & cv2.morphologyEx(kept, cv2.MORPH_CLOSE, _ones(across))
    return kept.astype(bool), lines | boxes  # (the boxes' walls whole: their faint rims are no strokes either)


def _sheared_rows(h: int, w: int, slope: float) -> np.ndarray:
    """Row indices [h, w] of an image sheared so that a line of `slope` (rows per column) lies level:
    column x moves down by round(x * slope), shifted so that no row is negative. Integer shifts of
    whole columns: a bijection, nothing lost or doubled."""
    return np.arange(h)[:, None] + _shifts(w, slope)[None, :]


@functools.lru_cache(maxsize=64)
def _shifts(columns: int, slope: float) -> np.ndarray:
    """Each column's downward shift (rows, none negative) that lays a line of `slope` level."""
    offsets = np.round(np.arange(columns) * slope).astype(np.int64)
    offsets -= offsets.min()
    offsets.setflags(write=False)
    return offsets


def _tilted_band(thin: np.ndarray, faint: np.ndarray, horizontal: bool, length: int,
                 settings: FinderSettings) -> np.ndarray | None:
    """For a page photographed turned (a phone is never held quite level), the band (uint8 0/1) along
    its ruled lines of one direction (`horizontal`) where they lie at a slope; None: they lie level (or
    there are none). The slope is the one along which `thin` piles up most (the sum of its squared
    row counts, sheared: the classic skew estimate, on a smaller copy). Looked for only where the
    picture holds thin ink enough for settings.rule_search_lines lines across it."""
    across_size = thin.shape[1] if horizontal else thin.shape[0]
    if not settings.rule_slopes or np.count_nonzero(thin) < settings.rule_search_lines * across_size:
        return None

    def piled(counts: np.ndarray) -> float:
        counts = counts.astype(np.float64)
        return float(counts @ counts)

    # Smaller: every 4th column (along the lines), rows taken two at a time (a 1-pixel line stays).
    along = 4
    if horizontal:
        small = thin[0 : thin.shape[0] // 2 * 2 : 2, ::along] | thin[1::2, ::along]
        ys, xs = np.nonzero(small)
    else:
        small = thin[::along, 0 : thin.shape[1] // 2 * 2 : 2] | thin[::along, 1::2]
        xs, ys = np.nonzero(small)
    level = piled(np.bincount(ys))
    best, best_slope, best_counts = level, None, None
    for slope in settings.rule_slopes:
        counts = np.bincount(ys + _shifts(small.shape[1] if horizontal else small.shape[0], slope * along / 2)[xs])
        score = piled(counts)
        if score > best:
            best, best_slope, best_counts = score, slope, counts
    if best_slope is None or best < settings.rule_slope_gain * level:  # (handwriting's own slant piles up a little)
        return None
    # No stretch can be covered where no band of rows holds the ink of one (of every 4th column).
    if np.convolve(best_counts, np.ones(settings.rule_tilt + 1), mode="same").max() < settings.rule_cover * length / along:
        return None
    if not horizontal:
        thin, faint = np.ascontiguousarray(thin.T), np.ascontiguousarray(faint.T)
    h, w = thin.shape
    rows = _sheared_rows(h, w, best_slope)
    columns = np.arange(w)[None, :]
    sheared = np.zeros((int(rows[-1].max()) + 1, w), np.uint8)
    sheared[rows, columns] = thin
    covered = _covered_rows(cv2.dilate(sheared, _ones((2 * settings.rule_tilt + 1, 1))), length, settings.rule_cover * length)
    # A rule has paper on both sides; the edge of a sheet on a desk, of a shadow, has ink along one.
    sheared_faint = np.zeros_like(sheared)
    sheared_faint[rows, columns] = faint
    shifts = rows[0]  # (a sheared row r holds column x's row r - shifts[x], where that is in the picture)
    starts = np.flatnonzero(covered & ~np.concatenate(([False], covered[:-1])))
    ends = np.flatnonzero(covered & ~np.concatenate((covered[1:], [False]))) + 1
    reach = 2 * settings.rule_thickness
    lines_found = covered.copy()
    kept_lines = 0
    for a, b in zip(starts, ends):
        shares = []
        for r0, r1 in ((max(0, a - reach), max(0, a - 1)), (b + 1, b + reach)):
            source = np.arange(r0, min(r1, len(covered)))[:, None] - shifts[None, :]
            side = (source >= 0) & (source < h) & ~lines_found[r0:r1, None]  # (not the next line's rows: ruled lines lie close)
            inside = int(np.count_nonzero(side))
            shares.append(np.count_nonzero(sheared_faint[r0:r1] & side) / inside if inside else 1.0)
        if max(shares) > settings.rule_side_ink:
            covered[a:b] = False
        else:
            kept_lines += 1
    if not kept_lines:
        return None
    # (a line photographed is not quite straight: the band reaches the drift's width further each side)
    covered = cv2.dilate(covered.view(np.uint8)[:, None], _ones((2 * settings.rule_tilt + 1, 1))).ravel() > 0
    band = covered[rows].view(np.uint8)
    # A printed line runs across the picture: its lines' thin ink is most of their length (not a few
    # strokes' ends that happen to line up, a stretch of a sheet's edge).
    if np.count_nonzero(band & thin) < settings.rule_line_ink * w * kept_lines:
        return None
    return band if horizontal else np.ascontiguousarray(band.T)


def _box_outlines(faint: np.ndarray, settings: FinderSettings) -> np.ndarray:
    """Boxes printed around digits (a form's box for each digit, a table's cells): a piece whose four
    sides are thin straight lines (a little tilted, as photographed), with any thin straight walls
    inside it that run from side to side (a row of boxes printed as one). Their pixels, which go
    like ruled lines: left in, a box merges with the digit inside it and its walls read as 1s.
    A written 0 is round and a 7's bar ends in a slanting stroke: no digit has four straight sides.
    `faint`: ink above a low floor (uint8 0/1), where a printed line is whole."""
    count, labels, stats, _ = _pieces(faint)
    x, y, w, h, area = stats.T
    ids = np.flatnonzero((w >= settings.min_box) & (h >= settings.min_box) & (area <= settings.box_max_fill * w * h))
    ids = ids[ids > 0]
    # A box is inked near its four corners (how near: its tilt over its length), a digit's ink
    # rarely is: counted at once for all pieces in an integral image.
    summed = cv2.integral(faint)
    x0, y0, x1, y1 = x[ids], y[ids], x[ids] + w[ids], y[ids] + h[ids]
    near = np.maximum(2, np.ceil(np.maximum(w[ids], h[ids]) * settings.box_tilt)).astype(int)
    near = np.minimum(near, np.minimum(w[ids], h[ids]))  # the window stays inside the piece's box
    cornered = np.ones(len(ids), bool)
    for left, top in ((x0, y0), (x1 - near, y0), (x0, y1 - near), (x1 - near, y1 - near)):
        cornered &= (summed[top + near, left + near] - summed[top, left + near] - summed[top + near, left]
                     + summed[top, left]) > 0
    boxes = np.zeros_like(faint)
    for i in ids[cornered]:
        bx, by, bw, bh = stats[i][:4]
        piece = labels[by : by + bh, bx : bx + bw] == i
        outline = _box_outline(piece, settings)
        if outline is not None:
            boxes[by : by + bh, bx : bx + bw] |= piece & outline
    return boxes


def _box_outline(piece: np.ndarray, settings: FinderSettings) -> np.ndarray | None:
    """The outline and inner walls of `piece` (a piece's pixels in its bounding box) when it is a
    box: seen from each side, its first ink runs along a straight line (an inked thin band);
    None otherwise."""
    h, w = piece.shape
    reach = settings.rule_tilt + 1  # past a side's first ink: its line (and soft rim) ends within this
    rows, cols = np.arange(h)[:, None], np.arange(w)[None, :]
    outline = np.zeros_like(piece)
    for side in range(4):  # top, bottom, left, right: each seen as the top of a turned piece
        view = (piece, piece[::-1], piece.T, piece.T[::-1])[side]
        first = view.argmax(0)  # the first ink row of each column
        # The line through the medians of its two halves (a corner or a digit touching it moves
        # a few of the first inks, not the medians); most first inks lie on it.
        n = len(first)
        at = np.arange(n)
        half = n // 2
        # (_quantile: np.median's values, at a fraction of its cost; most pieces are looked at here)
        slope = (_quantile(first[half:], 0.5) - _quantile(first[:half], 0.5)) / max(n - half, 1)
        line = _quantile(first[:half], 0.5) + slope * (at - (half - 1) / 2)
        drift = abs(slope) * (n - half)  # pixels between the two halves' middles, one of them rounding
        if drift > settings.box_tilt * (n - half) + 1 or np.mean(np.abs(first - line) <= settings.rule_tilt) < settings.box_straight:
            return None
        inside = view[np.minimum(first + reach + 1, view.shape[0] - 1), at]
        if inside.mean() > 0.5:
            return None  # thick, or a solid blot: not a printed line
        depth = first + reach  # the side's pixels: from the edge to this far in
        if side < 2:
            outline |= (rows if side == 0 else h - 1 - rows) <= depth[None, :]
        else:
            outline |= (cols if side == 2 else w - 1 - cols) <= depth[:, None]
    # Walls inside: columns (rows) inked from side to side, in runs no thicker than a rule.
    thickest = settings.rule_thickness
    for axis in (0, 1):  # 0: upright walls, 1: level ones
        full = piece.mean(axis) >= settings.rule_cover
        if full.any() and np.convolve(full, np.ones(thickest + 1), "valid").max() <= thickest:
            walls = np.convolve(full, np.ones(3), "same") > 0  # with their soft rims
            if axis == 0:
                outline[:, walls] = True
            else:
                outline[walls, :] = True
    return outline


def _covered_rows(binary: np.ndarray, length: int, need: float) -> np.ndarray:
    """Which rows of a uint8 0/1 image hold a stretch of `length` pixels with at least `need` of them
    set (bool per row). Only rows with enough ink in all could (a stretch's sum, its ends reflected
    at the picture's border, counts a row's pixels at most twice while `length` is under the row's
    length): most pictures have no row near it, and the sums are taken only where one might."""
    rows = binary.shape[0]
    candidates = np.arange(rows)
    if length < binary.shape[1]:
        counts = cv2.reduce(binary, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
        candidates = np.flatnonzero(2 * counts >= need)
    covered = np.zeros(rows, bool)
    if candidates.size:
        # (ink counted in uint8 straight into float32 sums: 4x less to convert than blurring floats)
        sums = cv2.boxFilter(np.ascontiguousarray(binary[candidates]), cv2.CV_32F, (length, 1), normalize=False)
        covered[candidates] = (sums >= need).any(axis=1)
    return covered


def _drop_drawn(lines: np.ndarray, off_lines: np.ndarray, horizontal: bool, length: int,
                settings: FinderSettings) -> np.ndarray:
    """`lines` (one direction's) without those whose both ends run on into ink on no line
    (`off_lines`): a printed rule ends at the paper's edge or on a rule across it; a drawn shape's
    straight stretch (a paper clip's wire, a bracket) bends into the rest of the shape, which is
    then one piece, judged as a whole (too wide for a digit). Only a straight piece at least `length`
    long (a stretch found as a line) can be such a stretch: a shorter one is a rule's piece between
    the strokes that cross it (digits crowded on a ruled line), and goes as the rule does."""
    bx, by, bw, bh = cv2.boundingRect(lines)
    if bw == 0:
        return lines
    # Labelled only around the lines (a page's rules, a clip's wires): most pictures have few or none.
    reach, pad = settings.rule_end_reach, settings.rule_tilt + 2
    h, w = lines.shape
    X0, Y0 = max(0, bx - reach - pad), max(0, by - reach - pad)
    X1, Y1 = min(w, bx + bw + reach + pad), min(h, by + bh + reach + pad)
    part, other = lines[Y0:Y1, X0:X1], off_lines[Y0:Y1, X0:X1]
    count, labels, stats, _ = _pieces(part)
    drawn = []
    for i in range(1, count):
        x, y, lw, lh = stats[i][:4]  # one line's box, in `part`
        if (lw if horizontal else lh) < length:
            continue  # shorter than any stretch found as a line: a piece of one between strokes crossing it
        if horizontal:
            ends = (other[max(0, y - pad) : y + lh + pad, max(0, x - reach) : x],
                    other[max(0, y - pad) : y + lh + pad, x + lw : x + lw + reach])
        else:
            ends = (other[max(0, y - reach) : y, max(0, x - pad) : x + lw + pad],
                    other[y + lh : y + lh + reach, max(0, x - pad) : x + lw + pad])
        if all(end.any() for end in ends):
            drawn.append(i)
    if not drawn:
        return lines
    keep = np.ones(count, bool)
    keep[drawn] = False
    lines = lines.copy()
    lines[Y0:Y1, X0:X1] = keep[labels] & (labels > 0)
    return lines


def _edge_ring(image: np.ndarray, photo_edges: Edges) -> np.ndarray:
    """The pixels along the photo's edges (x0, y0, x1, y1), each once."""
    x0, y0, x1, y1 = photo_edges
    return np.concatenate([image[y0, x0:x1], image[y1 - 1, x0:x1], image[y0 + 1 : y1 - 1, x0], image[y0 + 1 : y1 - 1, x1 - 1]])


def _edge_share(mask: np.ndarray, photo_edges: Edges) -> float:
    """The share of the photo's edges that `mask` covers: no one piece of it covers more."""
    ring = _edge_ring(mask, photo_edges)
    return np.count_nonzero(ring) / len(ring)


def _without_textured_desk(writing: np.ndarray, photo_edges: Edges, along: float, settings: FinderSettings) -> np.ndarray:
    """`writing` without a textured desk round the sheet (a carpet, fabric, stone, leather): hundreds
    of specks, none of them along much of the picture's edge, so _background keeps them all, and the
    model reads a few as digits among the many it calls no digit. Pieces within settings.desk_join
    pixels of each other are one region; a region along more than `along` of the edge, of at least
    settings.desk_pieces pieces, nearly all blobs (at most settings.desk_dashes of them 3 times longer
    than wide: the dashes of a squared page's grid, joined, run along the edge too), is the desk,
    when the rest of the picture is paper (ink covers at most settings.desk_rest_ink of it; the rest
    of a texture that only part of was joined to the edge is not). One stroke touching the edge, a
    tiny scan's digit, is one piece, however far it reaches."""
    if settings.desk_join <= 1:
        return writing
    joined = cv2.dilate(writing.view(np.uint8), _ones((settings.desk_join,) * 2))
    if _edge_share(joined, photo_edges) <= along:
        return writing
    count, labels, _, _ = _pieces(joined)
    desk = _background(labels, count, photo_edges, along)
    if not desk.any():
        return writing
    pieces, piece_labels, stats, _ = _pieces(writing.view(np.uint8))
    region = np.zeros(pieces, np.int64)  # each piece's region (a piece lies wholly in one)
    region[piece_labels[writing]] = labels[writing]
    region, sides = region[1:], np.sort(stats[1:, [cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT]], axis=1)
    dashes = sides[:, 1] >= 3 * sides[:, 0]
    members = np.bincount(region, minlength=count)
    desk &= (members >= settings.desk_pieces) & (np.bincount(region[dashes], minlength=count) <= settings.desk_dashes * members)
    if not desk.any():
        return writing
    on_desk = desk[labels]
    rest = writing & ~on_desk
    if np.count_nonzero(rest) > settings.desk_rest_ink * (on_desk.size - np.count_nonzero(on_desk)):
        return writing
    return rest


def _background(labels: np.ndarray, count: int, photo_edges: Edges, along: float) -> np.ndarray:
    """Per label: True for what is not writing on the paper but lies along the photo's edge, as
    a desk or a shadow beside the sheet does: more than `along` of the edge's length is theirs.
    (Wider dark areas are paper to the closing in ink_image and never become ink.) A digit cropped
    tightly touches the edge too, but only where its strokes cross or hug it."""
    border = _edge_ring(labels, photo_edges)
    background = np.bincount(border, minlength=count) > along * len(border)
    background[0] = False
    return background


def _merge_pieces(pieces: list[list[int]], settings: FinderSettings) -> list[list[int]]:
    """Join the broken strokes of one digit: pieces above one another with strong horizontal
    overlap, or stacked with a small gap into a shape still as narrow as a digit (a slanted,
    broken 1). Side-by-side digits overlap vertically and never merge.

    The first mergeable pair (in the pieces' order) is merged, again and again until none is
    left. Which pairs can merge is one matrix, computed at once; after a merge only the merged
    piece's row is computed again (a sheet of 12 rows, a carpet, has hundreds of pieces). The piece
    merged away keeps its place in the matrix, its row and column emptied: deleting them copied the
    whole matrix at every merge (a carpet's 570 pieces, 90 merges: 30 ms of its 240)."""
    groups: list[list[int] | None] = [list(p) for p in pieces]
    if not groups:
        return []
    # A digit's height: most pieces are whole digits. Two pieces whose union is much taller
    # belong to two lines (rows of a sheet, a column of digits) and never merge.
    typical = percentile_of([g[3] - g[1] for g in groups], 75)
    limit = settings.max_union_height * typical
    boxes = np.array([g[:4] for g in groups], dtype=np.int64)
    # Every pair, but computed only where the tops lie within the limit (no union is shorter than
    # that distance): a carpet's 570 pieces, 17 ms for the whole matrix, under 3 ms so.
    first, second = np.nonzero(np.triu(np.abs(boxes[:, None, 1] - boxes[None, :, 1]) <= limit, 1))
    mergeable = np.zeros((len(groups), len(groups)), bool)
    mergeable[first, second] = _same_digit(boxes[first], boxes[second], limit, settings)
    alive = np.ones(len(groups), bool)
    while True:
        i, j = divmod(int(np.argmax(mergeable)), len(groups))  # the first True in row order (argmax stops there)
        if not mergeable[i, j]:
            return [g for g in groups if g is not None]
        a, b = groups[i], groups[j]
        groups[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]), *a[4:], *b[4:]]
        groups[j] = None
        alive[j] = False
        mergeable[j] = False
        mergeable[:, j] = False
        boxes[i] = groups[i][:4]
        row = _same_digit(boxes[i], boxes, limit, settings) & alive
        mergeable[i, i + 1 :] = row[i + 1 :]
        mergeable[:i, i] = row[:i]


def _same_digit(a: np.ndarray, b: np.ndarray, limit: float, settings: FinderSettings) -> np.ndarray:
    """Whether pieces `a` and `b` (x0, y0, x1, y1 in the last axis; they broadcast) are strokes of one
    digit, and their union is no taller than `limit`. Symmetric in a and b."""
    ax0, ay0, ax1, ay1 = np.moveaxis(a, -1, 0)
    bx0, by0, bx1, by1 = np.moveaxis(b, -1, 0)
    x_overlap = np.minimum(ax1, bx1) - np.maximum(ax0, bx0)
    y_overlap = np.minimum(ay1, by1) - np.maximum(ay0, by0)  # negative: a vertical gap
    narrow = np.minimum(ax1 - ax0, bx1 - bx0)
    short, tall = np.minimum(ay1 - ay0, by1 - by0), np.maximum(ay1 - ay0, by1 - by0)
    union_w = np.maximum(ax1, bx1) - np.minimum(ax0, bx0)
    union_h = np.maximum(ay1, by1) - np.minimum(ay0, by0)
    above = (x_overlap > settings.merge_x_overlap * narrow) & (-y_overlap < settings.merge_y_gap * tall)
    stacked = (y_overlap < settings.stack_max_overlap * short) & (-y_overlap < settings.stack_max_gap * tall)
    stacked &= (-x_overlap < settings.stack_max_shift * union_h) & (union_w <= settings.stack_max_aspect * union_h)
    return (union_h <= limit) & (above | stacked)


def resize_to(grey: np.ndarray, side: int, short_side: int = 0) -> tuple[np.ndarray, float]:
    """`grey` shrunk so its longer side is at most `side` (or enlarged so its shorter side is at
    least `short_side`, for tiny scans), and the factor used."""
    h, w = grey.shape
    scale = min(1.0, side / max(h, w))
    if min(h, w) * scale < short_side:
        scale = min(short_side / min(h, w), 2 * side / max(h, w))
        return rescaled(grey, scale, cv2.INTER_CUBIC), scale
    if scale < 1.0:
        # Area averaging is needed against aliasing only when shrinking a lot; it is slow otherwise.
        grey = rescaled(grey, scale, cv2.INTER_AREA if scale < 0.5 else cv2.INTER_LINEAR)
    return grey, scale


def rescaled(grey: np.ndarray, scale: float, interpolation: int) -> np.ndarray:
    """`grey` resized by `scale` (at least 1 px each way)."""
    h, w = grey.shape
    return cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=interpolation)
