"""The storyboard page: one self-contained HTML file for an edit, with an animatic player.

Scenes are sections, shots are panels (representative frames of the active tier, shot id,
size, camera move, characters, dialog, duration, tiers fresh/stale/missing, estimated final
cost). The player plays the edit's active media in order, with its audio, through a <video>
element pointing at the media by relative path (or file:// URL), so opening the file is enough:
no server. Space plays/pauses, ←/→ go to the previous/next shot, clicking a panel jumps there.
A shot with a keyframe (`render --tier final --quality keyframe`) shows it above its stills,
tagged APPROVED (green panel border: `soloreel approve` pinned it, the final starts from it)
or "keyframe · not approved", with its seed and how many alternates a retake kept.
A shot whose media the browser cannot play (or that has none) shows its still for its length,
so the animatic's clock always runs at the edit's pace.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from PIL import Image

from render_engine.bible import TIERS
from render_engine.review.frames import shot_stills
from render_engine.review.shots import Review, ReviewShot, timecode

TIER_COLORS = {"final": "#3fb950", "proxy": "#4c8eda", "placeholder": "#d29922"}


def character_label(review: Review, name: str) -> str:
    """A character's display name from the bible (else the name in capitals)."""
    if review.production is not None and name in review.production.cast:
        member = review.production.cast[name]
        return (member.display_name or name).upper()
    return name.upper()


@dataclass
class KeyframeStill:
    """A shot's keyframe as a panel shows it."""

    image: np.ndarray
    approved: bool
    sha256: str
    seed: int
    alternates: int

    @property
    def label(self) -> str:
        """"APPROVED keyframe · seed 42 · 2 alternates" (or "keyframe · not approved …")."""
        text = ("APPROVED keyframe" if self.approved else "keyframe · not approved")
        text += f" · seed {self.seed}"
        if self.alternates:
            text += f" · {self.alternates} alternate{'s' if self.alternates > 1 else ''}"
        return text


def keyframe_still(shot: ReviewShot, production: Any = None, width: int = 480
                   ) -> KeyframeStill | None:
    """The shot's keyframe for its panel: the approved one (from the production's keyframe
    store, `final.keyframes`), else the cached keyframe of its current content (its final
    state is `keyframe`); None when it has neither."""
    from render_engine.final.keyframes import entry_png, store_dir

    spec = shot.spec
    if spec is None:
        return None
    kept = spec.render.final.keyframe
    path, sha, seed = None, "", spec.seed
    if kept is not None and kept.sha256 and production is not None:
        candidate = store_dir(production) / f"{kept.sha256}.png"
        if candidate.is_file():
            path, sha = candidate, kept.sha256
            seed = kept.seed if kept.seed is not None else spec.seed
    state = shot.tier_states.get("final")
    if path is None and state is not None and state.state == "keyframe" and state.entry:
        path, sha = entry_png(state.entry), str(state.entry.manifest.get("keyframe_sha256", ""))
    if path is None or not path.is_file():
        return None
    with Image.open(path) as opened:
        image = opened.convert("RGB")
    if image.width > width:
        image = image.resize((width, round(image.height * width / image.width)),
                             Image.Resampling.LANCZOS)
    return KeyframeStill(np.asarray(image), bool(kept and kept.sha256 and kept.sha256 == sha),
                         sha, seed, len(kept.alternates) if kept else 0)


def tagged_keyframe(still: KeyframeStill) -> np.ndarray:
    """The keyframe with its label burnt in along the bottom (the PDF contact sheet's
    picture): green for an approved keyframe, amber for one not approved yet."""
    import cv2

    image = np.ascontiguousarray(still.image.copy())
    height, width = image.shape[:2]
    scale = max(0.3, height / 270 * 0.45)
    (w, h), base = cv2.getTextSize(still.label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    band = h + base + 8
    colour = (35, 134, 54) if still.approved else (20, 20, 20)
    cv2.rectangle(image, (0, height - band), (min(width, w + 12), height), colour, -1)
    cv2.putText(image, still.label, (6, height - base - 4), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 255, 255) if still.approved else (240, 180, 41), 1, cv2.LINE_AA)
    return image


def shot_facts(review: Review, shot: ReviewShot) -> dict[str, str]:
    """The caption facts of a shot, shared by the page and the contact sheet."""
    facts = {"duration": f"{shot.seconds:.2f} s · {shot.frames} f",
             "at": timecode(shot.record_start, review.fps)}
    if shot.spec is not None:
        spec = shot.spec
        facts["size"] = f"{spec.shot.size} · {spec.shot.angle}"
        move = spec.camera.move.replace("_", " ")
        facts["move"] = move + (f" {spec.camera.amount:g}" if spec.camera.amount else "")
        facts["characters"] = ", ".join(
            f"{character_label(review, c.name)} ({c.action})" for c in spec.characters) or "—"
    facts["final"] = final_fact(shot)
    kept = shot.spec.render.final.keyframe if shot.spec is not None else None
    if kept is not None and kept.sha256:
        facts["final"] += f" · keyframe APPROVED ({kept.sha256[:8]})"
    elif shot.states.get("final") == "keyframe":
        facts["final"] += " · keyframe not approved"
    return facts


def final_fact(shot: ReviewShot) -> str:
    """A shot's final-tier cost as every review output words it (the dry run's figure)."""
    if shot.states.get("final") == "fresh" and not shot.final_minutes:
        return "final fresh"
    if shot.final_minutes is None:
        return "final: no GPU estimate"
    return f"final ≈ {shot.final_minutes:.1f} GPU-min"


def dialog_lines(review: Review, shot: ReviewShot) -> list[tuple[str, str]]:
    """(speaker, text) of the shot's dialog, parentheticals folded into the text."""
    if shot.spec is None:
        return []
    return [(character_label(review, line.speaker),
             (f"({line.parenthetical}) " if line.parenthetical else "") + line.text)
            for line in shot.spec.dialog]


def _jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _media_url(path: Path, base: Path | None) -> str:
    """A relative URL from the page's folder when written to a file, else a file:// URL."""
    if base is None:
        return path.resolve().as_uri()
    return quote(os.path.relpath(path.resolve(), base.resolve()).replace(os.sep, "/"))


CSS = """
:root{--bg:#15161a;--card:#1f2127;--ink:#e8e8ea;--dim:#9a9ca5;--line:#30333b;--hi:#f0b429}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header.top{padding:16px 24px 8px}h1{margin:0;font-size:22px}.sub{color:var(--dim)}
.legend span{display:inline-block;margin-right:14px}.sw{display:inline-block;width:10px;
height:10px;border-radius:2px;margin-right:4px;vertical-align:middle}
#player{position:sticky;top:0;z-index:5;background:#0d0e11;border-bottom:1px solid var(--line);
display:flex;gap:16px;padding:10px 24px;align-items:center}
#screen{position:relative;width:480px;aspect-ratio:16/9;background:#000;flex:none}
#screen video,#screen img{position:absolute;inset:0;width:100%;height:100%;object-fit:contain}
#anim-tier{position:absolute;left:6px;top:6px;background:#000a;padding:1px 6px;
border-radius:3px;font-size:12px}
.controls{flex:1;min-width:0}.controls button{background:#2b2e36;color:var(--ink);
border:1px solid var(--line);border-radius:4px;padding:5px 12px;font-size:14px;cursor:pointer}
#anim-time{font:600 20px ui-monospace,monospace;margin-left:10px}
#anim-shot{margin-top:6px;color:var(--dim)}
#bar{position:relative;height:22px;margin-top:8px;background:#24262d;border-radius:3px;
cursor:pointer;display:flex;overflow:hidden}#bar i{display:block;height:100%;
border-right:1px solid #0d0e11;opacity:.75}#bar i.on{opacity:1;outline:2px solid var(--hi)}
#head{position:absolute;top:0;bottom:0;width:2px;background:#fff}
.keys{color:var(--dim);font-size:12px;margin-top:6px}
section.scene{padding:8px 24px 20px}section.scene h2{font-size:16px;color:var(--hi);
border-bottom:1px solid var(--line);padding-bottom:4px;margin:10px 0 12px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:14px}
.panel{background:var(--card);border:2px solid var(--line);border-radius:6px;overflow:hidden;
cursor:pointer}.panel.current{border-color:var(--hi)}
.stills{display:grid;grid-template-columns:1fr 1fr;gap:2px;background:#000}
.stills.n1{grid-template-columns:1fr}.stills img{min-width:0;width:100%;
aspect-ratio:16/9;object-fit:cover;display:block}.movecell{display:flex;flex-direction:column;
align-items:center;justify-content:center;color:var(--dim);font-size:12px;aspect-ratio:16/9}
.movecell b{color:var(--ink);font-size:14px}
.body{padding:8px 10px 10px}.title{display:flex;gap:8px;align-items:baseline}
.num{color:var(--dim)}.sid{font-weight:700}.cname{color:var(--dim);overflow:hidden;
text-overflow:ellipsis;white-space:nowrap}
.facts{display:grid;grid-template-columns:auto 1fr;gap:1px 8px;margin:6px 0;font-size:13px}
.facts dt{color:var(--dim)}.facts dd{margin:0}
.dialog{margin:4px 0;padding:0;list-style:none;font-size:13px}.dialog li{margin:2px 0}
.dialog b{color:var(--hi);font-weight:600}
.tiers{display:flex;gap:4px;flex-wrap:wrap;margin-top:6px}.tier{font-size:11px;
padding:1px 6px;border-radius:9px;border:1px solid}.tier.fresh{color:#0d0e11}
.tier.stale{background:repeating-linear-gradient(45deg,#0000 0 4px,#fff3 4px 8px)}
.tier.missing,.tier.invalid{color:var(--dim);border-color:var(--line)}
.cost{font-size:12px;color:var(--dim);margin-top:4px}.problem{color:#f85149;font-size:12px}
.kf{position:relative;background:#000}.kf img{width:100%;aspect-ratio:16/9;object-fit:contain;
display:block}.kf span{position:absolute;left:6px;bottom:6px;font-size:11px;font-weight:700;
padding:2px 7px;border-radius:3px;background:#000c;color:#f0b429;border:1px dashed #f0b429}
.kf.approved span{background:#238636;color:#fff;border:1px solid #3fb950}
.panel.approved{border-color:#3fb950;box-shadow:0 0 0 1px #3fb950}
.tier.keyframe{border-style:dashed;color:#3fb950}
"""

JS = """
(function(){
const SHOTS = JSON.parse(document.getElementById('shots-data').textContent);
const video = document.getElementById('anim-video'), still = document.getElementById('anim-still');
const timeEl = document.getElementById('anim-time'), shotEl = document.getElementById('anim-shot');
const tierEl = document.getElementById('anim-tier'), playBtn = document.getElementById('anim-play');
const head = document.getElementById('head'), bar = document.getElementById('bar');
const FPS = SHOTS.fps, TOTAL = SHOTS.total, list = SHOTS.shots;
const failed = new Set();
let idx = 0, playing = false, within = 0, timerStart = 0, useVideo = false, pending = null;
function tc(s){const f=Math.floor(s*FPS+1e-6),r=Math.round(FPS),p=n=>String(n).padStart(2,'0');
  const sec=Math.floor(f/r);return p(Math.floor(sec/3600))+':'+p(Math.floor(sec/60)%60)+':'+
  p(sec%60)+':'+p(f%r);}
function current(){const s=list[idx];
  if(useVideo) return Math.max(0, video.currentTime - s.offset);
  return playing ? (performance.now()-timerStart)/1000 : within;}
function show(){const s=list[idx], t=s.start+Math.min(current(), s.dur);
  timeEl.textContent=tc(t); timeEl.dataset.seconds=t.toFixed(3);
  head.style.left=(100*t/TOTAL)+'%';}
function load(i, at){
  idx=Math.max(0,Math.min(list.length-1,i)); within=at||0; const s=list[idx];
  document.querySelectorAll('.panel.current,#bar i.on')
    .forEach(e=>e.classList.remove('current','on'));
  const panel=document.getElementById('shot-'+s.n); if(panel){panel.classList.add('current');
    panel.scrollIntoView({block:'nearest',behavior:'smooth'});}
  const seg=document.getElementById('seg-'+s.n); if(seg) seg.classList.add('on');
  shotEl.textContent='#'+s.n+'  '+s.id+'  '+s.name+(s.caption?'  ·  '+s.caption:'');
  tierEl.textContent=s.tier||'no media';
  still.src=s.poster; useVideo=!!s.src && !failed.has(s.src);
  if(useVideo){ video.style.visibility='visible'; still.style.visibility='hidden';
    if(video.dataset.src!==s.src){video.dataset.src=s.src; video.src=s.src;
      pending=s.offset+within;}
    else { video.currentTime=s.offset+within; }
    if(playing) video.play().catch(()=>fallback());
  } else { video.pause(); video.style.visibility='hidden'; still.style.visibility='visible'; }
  timerStart=performance.now()-within*1000; show();}
function fallback(){const s=list[idx]; if(!s.src) return; failed.add(s.src);
  const w=useVideo?current():within; useVideo=false; load(idx, Math.min(w, s.dur));}
video.addEventListener('loadedmetadata',()=>{if(pending!==null){video.currentTime=pending;
  pending=null;} if(playing) video.play().catch(()=>fallback());});
video.addEventListener('error',fallback);
function play(){ if(playing) return; playing=true; playBtn.textContent='❚❚ pause';
  if(current()>=list[idx].dur-1e-3 && idx===list.length-1) load(0,0);
  timerStart=performance.now()-within*1000;
  if(useVideo) video.play().catch(()=>fallback()); tick();}
function pause(){ within=current(); playing=false; playBtn.textContent='▶ play';
  video.pause(); show();}
function toggle(){ playing?pause():play(); }
function tick(){ if(!playing) return; const s=list[idx];
  if(current()>=s.dur-0.5/FPS){ if(idx+1<list.length){ load(idx+1,0);} else {pause(); within=s.dur;
    show(); return;} }
  show(); requestAnimationFrame(tick);}
playBtn.addEventListener('click',toggle);
document.getElementById('anim-prev').addEventListener('click',()=>load(idx-1,0));
document.getElementById('anim-next').addEventListener('click',()=>load(idx+1,0));
document.addEventListener('keydown',e=>{
  if(e.code==='Space'){e.preventDefault();toggle();}
  else if(e.key==='ArrowRight'){e.preventDefault();load(idx+1,0);}
  else if(e.key==='ArrowLeft'){e.preventDefault();load(idx-1,0);}});
document.querySelectorAll('.panel').forEach(p=>p.addEventListener('click',()=>{
  const i=list.findIndex(s=>s.n===Number(p.dataset.n)); if(i>=0) load(i,0);}));
bar.addEventListener('click',e=>{const r=bar.getBoundingClientRect(),
  t=(e.clientX-r.left)/r.width*TOTAL; let i=list.findIndex(s=>t<s.start+s.dur);
  if(i<0) i=list.length-1; load(i, Math.max(0,t-list[i].start));});
window.animatic={load,play,pause,current:()=>list[idx].start+current(),shot:()=>idx};
if(list.length) load(0,0);
})();
"""


def _badge_title(shot: ReviewShot, tier: str, state: str) -> str:
    reason = shot.tier_states[tier].reason if tier in shot.tier_states else ""
    return f"{tier}: {state}" + (f" — {reason}" if reason else "")


def _keyframe_html(still: KeyframeStill | None, src: str, shot_id: str) -> str:
    if still is None:
        return ""
    esc = html.escape
    kind = "approved" if still.approved else "pending"
    return (f'<div class="kf {kind}" title="keyframe {esc(still.sha256[:12])}">'
            f'<img src="{esc(src)}" alt="{esc(shot_id)} keyframe">'
            f"<span>{esc(still.label)}</span></div>")


def _panel(review: Review, shot: ReviewShot, images: list[tuple[str, str]],
           keyframe: str = "", approved: bool = False) -> str:
    esc = html.escape
    facts = shot_facts(review, shot)
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in (
        ("size", facts.get("size", "")), ("move", facts.get("move", "")),
        ("length", facts["duration"]), ("at", facts["at"]),
        ("cast", facts.get("characters", ""))) if v)
    lines = "".join(f"<li><b>{esc(who)}</b> {esc(text)}</li>"
                    for who, text in dialog_lines(review, shot))
    tiers = "".join(
        f'<span class="tier {state}" title="{esc(_badge_title(shot, tier, state))}" style="'
        + (f"background:{TIER_COLORS[tier]};border-color:{TIER_COLORS[tier]}"
           if state in ("fresh", "draft")
           else f"border-color:{TIER_COLORS[tier]}" if state == "stale" else "")
        + f'">{tier} {state}</span>'
        for tier in TIERS if (state := shot.states.get(tier, "missing")))
    stills = "".join(f'<img src="{esc(src)}" alt="{esc(shot.shot_id)} {esc(label)}" '
                     f'title="{esc(label)} frame, {esc(shot.active or "no media")}">'
                     for label, src in images)
    if len(images) == 3 and shot.spec is not None:
        stills += (f'<div class="movecell"><b>{esc(shot.spec.camera.move.replace("_", " "))}'
                   "</b>first · middle · last</div>")
    problem = f'<div class="problem">{esc(shot.problem)}</div>' if shot.problem else ""
    stale = "".join(f'<div class="problem">{esc(note)}</div>' for note in shot.stale_notes())
    return (f'<article class="panel{" approved" if approved else ""}" id="shot-{shot.number}" '
            f'data-n="{shot.number}" data-shot="{esc(shot.shot_id)}" '
            f'data-tier="{esc(shot.active or "")}" data-keyframe="'
            f'{"approved" if approved else "pending" if keyframe else ""}">{keyframe}'
            f'<div class="stills n{len(images)}">{stills}</div>'
            '<div class="body"><div class="title">'
            f'<span class="num">#{shot.number}</span><span class="sid">{esc(shot.shot_id)}'
            f'</span><span class="cname">{esc(shot.name)}</span></div>'
            f'<dl class="facts">{rows}</dl><ul class="dialog">{lines}</ul>'
            f'<div class="tiers">{tiers}</div><div class="cost">{esc(facts["final"])} '
            f"({esc(review.final_source())})</div>"
            f"{stale}{problem}</div></article>")


def write_storyboard(review: Review, path: Path | None, embed: bool = False) -> str:
    """The storyboard page as text; with `path`, also write it (stills beside it in
    `<stem>_files/` unless `embed`, which inlines them as data URIs)."""
    base = path.parent if path is not None else None
    folder = path.with_name(f"{path.stem}_files") if path is not None and not embed else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    panels: dict[int, str] = {}
    player = []
    for shot in review.shots:
        images = []
        for label, image in shot_stills(shot):
            data = _jpeg(image)
            if folder is not None:
                name = f"{shot.number:03d}-{shot.shot_id}-{label}.jpg"
                (folder / name).write_bytes(data)
                images.append((label, quote(f"{folder.name}/{name}")))
            else:
                images.append((label, "data:image/jpeg;base64,"
                               + base64.b64encode(data).decode("ascii")))
        still = keyframe_still(shot, review.production)
        keyframe = ""
        if still is not None:
            data = _jpeg(still.image, 92)
            if folder is not None:
                name = f"{shot.number:03d}-{shot.shot_id}-keyframe.jpg"
                (folder / name).write_bytes(data)
                source = quote(f"{folder.name}/{name}")
            else:
                source = "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
            keyframe = _keyframe_html(still, source, shot.shot_id)
        panels[shot.number] = _panel(review, shot, images, keyframe,
                                     bool(still and still.approved))
        media = shot.shown()
        poster = images[len(images) // 2][1]
        player.append({
            "n": shot.number, "id": shot.shot_id, "name": shot.name,
            "start": shot.record_start / review.fps, "dur": shot.frames / review.fps,
            "src": _media_url(media.path, base) if media else None,
            "offset": media.offset / review.fps if media else 0.0,
            "tier": shot.active, "poster": poster,
            "caption": " · ".join(f"{who}: {text}" for who, text in dialog_lines(review, shot))})
    esc = html.escape
    sections = "".join(
        f'<section class="scene"><h2>{esc(name)}</h2><div class="grid">'
        + "".join(panels[s.number] for s in shots) + "</div></section>"
        for name, shots in review.scenes())
    seconds = review.frames / review.fps
    counts = {t: sum(1 for s in review.shots if s.states.get(t) == "fresh") for t in TIERS}
    summary = (f"{len(review.shots)} shots · {timecode(review.frames, review.fps)} "
               f"({seconds:.1f} s at {review.fps:g} fps) · "
               + " · ".join(f"{t} {counts[t]}/{len(review.shots)}" for t in TIERS)
               + f" · {review.final_total_text()}")
    legend = "".join(f'<span><i class="sw" style="background:{c}"></i>{t}</span>'
                     for t, c in TIER_COLORS.items())
    segments = "".join(
        f'<i id="seg-{s.number}" title="{esc(s.shot_id)}" style="flex:{s.frames};background:'
        f'{TIER_COLORS.get(s.active or "", "#444")}"></i>' for s in review.shots)
    data = json.dumps({"fps": review.fps, "total": seconds, "shots": player}).replace(
        "</", "<\\/")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{esc(review.title)} — storyboard</title><style>{CSS}</style></head>
<body><header class="top"><h1>{esc(review.title)} — storyboard</h1>
<div class="sub">{esc(summary)}</div><div class="sub legend">{legend}
<span>striped badge = stale render</span></div></header>
<div id="player"><div id="screen"><video id="anim-video" preload="auto" playsinline></video>
<img id="anim-still" alt="current shot"><span id="anim-tier"></span></div>
<div class="controls"><button id="anim-prev" title="previous shot (←)">◀◀</button>
<button id="anim-play" title="play/pause (space)">▶ play</button>
<button id="anim-next" title="next shot (→)">▶▶</button>
<span id="anim-time" data-seconds="0">00:00:00:00</span>
<div id="anim-shot"></div><div id="bar">{segments}<span id="head"></span></div>
<div class="keys">space play/pause · ← → previous/next shot · click a panel or the bar to jump
</div></div></div>
{sections}
<script type="application/json" id="shots-data">{data}</script>
<script>{JS}</script></body></html>
"""
    if path is not None:
        path.write_text(page, encoding="utf-8")
    return page
