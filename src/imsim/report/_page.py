"""The report's stylesheet and its one script, inlined into the self-contained HTML.

Layout: one column up to 1120 px wide that narrows with the window (no fixed width,
so a phone shows it without sideways scrolling; wide tables scroll inside their own
box). Every picture opens enlarged on a click (or Enter), in a ``<dialog>``: scaled to
fill the window, or at its drawn size, scrollable, where that is larger than the screen.
Escape, a click or the close button shuts it. No network, no library.
"""
from __future__ import annotations

__all__ = ["CSS", "SCRIPT", "ZOOM_DIALOG"]

CSS = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;--accent:#0969da}
*{box-sizing:border-box}
body{margin:0;background:var(--soft);color:var(--fg);
 font:15px/1.55 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:1120px;margin:0 auto;padding:28px clamp(12px,4vw,40px) 60px;background:#fff;
 box-shadow:0 0 0 1px var(--line)}
h1{font-size:28px;margin:0 0 4px}
h2{font-size:21px;margin:44px 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:16px;margin:22px 0 8px}
p{margin:8px 0}
.sub{color:var(--muted);margin:0 0 18px}
a{color:var(--accent);text-decoration:none}
a:hover{text-decoration:underline}
nav.toc{background:var(--soft);border:1px solid var(--line);border-radius:8px;
 padding:10px 18px;margin:16px 0 8px}
nav.toc ol{margin:4px 0;padding-left:22px;columns:2;column-gap:32px}
.params{font-size:13px;color:var(--muted);background:var(--soft);
 border-left:3px solid var(--accent); padding:6px 12px;margin:10px 0}
.params b{color:var(--fg);font-weight:600}
.note{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:8px 12px;margin:12px 0}
.missing{color:var(--muted);font-style:italic}
.tablewrap{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:13px;margin:8px 0 14px}
th,td{padding:5px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:middle}
th{background:var(--soft);font-weight:600;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tbody tr:hover td{background:#f0f6ff}
figure{margin:14px 0;text-align:center;min-width:0}
img{max-width:100%;height:auto}
figure.wide img{max-width:min(100%,900px)}
figcaption{font-size:13px;color:var(--muted);margin-top:4px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,340px),1fr));gap:14px;
 align-items:start}
.grid>*{min-width:0}
.pair{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,420px),1fr));gap:14px;
 align-items:end;margin:6px 0 18px}
.pair h3{grid-column:1/-1;margin:10px 0 0}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,480px),1fr));gap:16px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 12px;min-width:0;overflow-x:auto}
.card table{margin:0;width:100%}
.card td,.card th{border:none;padding:3px 6px}
.card img{image-rendering:pixelated;display:block;max-width:none}
.query{display:flex;flex-wrap:wrap;gap:12px;align-items:center;margin-bottom:6px;font-size:13px}
.small{font-size:12px;color:var(--muted)}
.summary{display:grid;grid-template-columns:minmax(0,1fr) minmax(240px,300px);gap:18px;
 align-items:start}
.context{background:var(--soft);border:1px solid var(--line);border-radius:8px;
 padding:8px 14px;font-size:13px;margin:8px 0}
.context h3{font-size:14px;margin:4px 0 6px}
.context dl{margin:0}
.context dt{font-weight:600;margin-top:6px}
.context dd{margin:0;color:var(--fg)}
.context .busy{color:#9a6700;font-weight:600}
pre{background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:8px 12px;
 overflow-x:auto;font-size:13px;white-space:pre-wrap;word-break:break-all}
footer{margin-top:40px;font-size:12px;color:var(--muted)}
img.zoomable{cursor:zoom-in}
img.zoomable:focus-visible{outline:2px solid var(--accent);outline-offset:2px}
.hint{font-size:12px;color:var(--muted);margin:2px 0 0}
dialog#zoom{border:0;border-radius:8px;padding:0;max-width:100vw;max-height:100vh;
 overflow:auto;background:#fff;box-shadow:0 8px 40px rgba(0,0,0,.4)}
dialog#zoom::backdrop{background:rgba(15,20,25,.78)}
dialog#zoom img{display:block;max-width:none;cursor:zoom-out;margin:0 auto}
dialog#zoom .bar{position:sticky;top:0;left:0;display:flex;gap:12px;align-items:center;
 justify-content:space-between;background:#fff;padding:6px 10px;font-size:13px;
 color:var(--muted);border-bottom:1px solid var(--line)}
dialog#zoom button{font:inherit;border:1px solid var(--line);background:var(--soft);
 border-radius:6px;padding:2px 10px;cursor:pointer}
@media (max-width:700px){
 body{font-size:14px}
 main{padding-top:16px}
 h1{font-size:22px}
 h2{font-size:18px;margin-top:32px}
 nav.toc ol{columns:1}
 .summary{grid-template-columns:minmax(0,1fr)}
 table{font-size:12px}
 th,td{padding:4px 6px}
 .card tr,.card th,.card td{display:block}
 .card img{max-width:100%}
}
"""

ZOOM_DIALOG = ('<dialog id="zoom" aria-label="enlarged figure"><div class="bar"><span></span>'
               '<button type="button" aria-label="close">close</button></div></dialog>')

# Every <img> in the report opens enlarged, as large as the window allows (sharp pixels
# for small pictures (digit strips) scaled up more than 1.5x).
SCRIPT = """
(function(){
 var d=document.getElementById('zoom');
 if(!d||!d.showModal)return;
 var big=d.appendChild(document.createElement('img')),cap=d.querySelector('.bar span');
 function open(img){
  var w=img.naturalWidth||img.width,h=img.naturalHeight||img.height;
  // as large as the window allows (small pictures up to 8x); on a phone, where even the
  // drawn size is wider than the screen, the drawn size, scrolled
  var fit=Math.min(0.94*window.innerWidth/w,(0.92*window.innerHeight-44)/h);
  var s=Math.max(1,Math.min(fit,8));
  big.src=img.src;big.alt=img.alt;big.style.width=Math.round(w*s)+'px';
  big.style.imageRendering=s>1.5&&w<400?'pixelated':'auto';  // digit strips stay sharp
  var f=img.closest('figure'),c=f&&f.querySelector('figcaption');
  cap.textContent=c?c.textContent:img.alt;
  d.showModal();
 }
 document.querySelectorAll('main img').forEach(function(img){
  img.classList.add('zoomable');img.tabIndex=0;img.title='Click to enlarge';
  img.setAttribute('role','button');
  img.addEventListener('click',function(){open(img);});
  img.addEventListener('keydown',function(e){
   if(e.key==='Enter'||e.key===' '){e.preventDefault();open(img);}});
 });
 d.addEventListener('click',function(e){if(e.target!==cap)d.close();});
})();
"""
